"""Logging set-up and the per-message context that lands in every record."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

__all__ = ("LOG_CONTEXT_FIELDS", "configure_logging", "get_logger", "log_context")

LOG_CONTEXT_FIELDS = ("execution_id", "route_id", "stage", "correlation_id")

_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"factflow_{name}", default=None) for name in LOG_CONTEXT_FIELDS
}


@contextlib.contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Attach `execution_id`, `route_id`, `stage` and/or `correlation_id` to every record inside."""
    tokens = []
    for name, value in values.items():
        if name not in _context:
            raise ValueError(f"unknown log context field {name!r}")
        tokens.append((_context[name], _context[name].set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class _ContextFilter(logging.Filter):
    """Copies the context variables onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


class _ConsoleFormatter(logging.Formatter):
    """Human-readable lines with the context fields that are set."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{name}={getattr(record, name)}" for name in LOG_CONTEXT_FIELDS if getattr(record, name, None)]
        return f"{line} [{' '.join(extras)}]" if extras else line


def configure_logging(level: str = "INFO", fmt: Literal["auto", "json", "console"] = "auto") -> None:
    """Configure the root logger: JSON lines, or a console format on a TTY.

    Only entry points (server, CLI) call this.
    """
    handler = logging.StreamHandler(sys.stderr)
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    if use_console:
        handler.setFormatter(_ConsoleFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    else:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
            )
        )
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())


def get_logger(name: str) -> logging.Logger:
    """Return the named logger (`logging.getLogger`); records get the context fields."""
    return logging.getLogger(name)
