"""Logging set-up and the per-message context that lands in every record."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

__all__ = ("LOG_CONTEXT_FIELDS", "configure_logging", "get_logger", "log_context")

LOG_CONTEXT_FIELDS = ("execution_id", "route_id", "stage", "correlation_id")

_FIELDS: Final = frozenset(LOG_CONTEXT_FIELDS)
_context: contextvars.ContextVar[Mapping[str, str | None]] = contextvars.ContextVar(
    "factflow_log_context", default=MappingProxyType({})
)
"""The fields in force: one variable holding them all, so a context costs one set and one reset."""


class _LogContext:
    """What `log_context` returns.

    A class over one variable: it runs once per delivery, and a generator-based context manager
    over one variable per field cost three times as much.
    """

    __slots__ = ("_token", "_values")

    def __init__(self, values: dict[str, str | None]) -> None:
        if not _FIELDS.issuperset(values):
            unknown = sorted(set(values) - _FIELDS)[0]
            raise ValueError(f"unknown log context field {unknown!r}")
        self._values = values

    def __enter__(self) -> None:
        outer = _context.get()
        self._token = _context.set({**outer, **self._values} if outer else self._values)

    def __exit__(self, *exc_info: object) -> None:
        _context.reset(self._token)


def log_context(**values: str | None) -> contextlib.AbstractContextManager[None]:
    """Attach `execution_id`, `route_id`, `stage` and/or `correlation_id` to every record inside."""
    return _LogContext(values)


class _ContextFilter(logging.Filter):
    """Copies the context fields onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = _context.get()
        for name in LOG_CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, values.get(name))
        return True


_LEVEL_COLOURS = {
    logging.DEBUG: "\x1b[2m",
    logging.INFO: "\x1b[32m",
    logging.WARNING: "\x1b[33m",
    logging.ERROR: "\x1b[31m",
    logging.CRITICAL: "\x1b[1;31m",
}
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"


class _ConsoleFormatter(logging.Formatter):
    """Human-readable lines with the context fields that are set, coloured on a terminal."""

    def __init__(self, *, colour: bool) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        extras = [f"{name}={getattr(record, name)}" for name in LOG_CONTEXT_FIELDS if getattr(record, name, None)]
        if not self.colour:
            line = super().format(record)
            return f"{line} [{' '.join(extras)}]" if extras else line
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        colour = _LEVEL_COLOURS.get(record.levelno, "")
        line = (
            f"{_DIM}{self.formatTime(record)}{_RESET} {colour}{record.levelname:<7}{_RESET} "
            f"{_DIM}{record.name}:{_RESET} {message}"
        )
        if extras:
            line += f" {_DIM}[{' '.join(extras)}]{_RESET}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def configure_logging(
    level: str = "INFO", fmt: Literal["auto", "json", "console"] = "auto", *, stream: TextIO | None = None
) -> None:
    """Configure the root logger: console lines on a terminal, JSON lines otherwise.

    `auto` picks the console format when the log stream (stderr) is a terminal, JSON otherwise;
    `console` and `json` force one. Console lines are coloured only on a terminal and without
    `NO_COLOR`. Only entry points (server, CLI) call this.

    Args:
        level: The root level name (`DEBUG`, `INFO`, ...).
        fmt: `auto`, `json` or `console` (`FACTFLOW_LOG_FORMAT`).
        stream: Where records go; stderr by default.
    """
    target = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(target)
    terminal = _is_terminal(target)
    if fmt == "console" or (fmt == "auto" and terminal):
        handler.setFormatter(_ConsoleFormatter(colour=terminal and not os.environ.get("NO_COLOR")))
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
