"""Global options, carried from the root group to every command (docs/reference/cli.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._output import OUTPUT_MODES, OutputMode, detect_mode

if TYPE_CHECKING:
    from ._client import ApiClient

__all__ = (
    "DEFAULT_SERVER_URL",
    "DEFAULT_TIMEOUT_SECONDS",
    "CliState",
    "output_option",
    "paging_options",
    "pass_state",
)

DEFAULT_SERVER_URL = "http://localhost:8000"
DEFAULT_TIMEOUT_SECONDS = 30.0
"""Per HTTP exchange, for ordinary commands."""

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(slots=True)
class CliState:
    """The global options of one invocation."""

    server: str = DEFAULT_SERVER_URL
    """Base URL as given (`--server`, `FACTFLOW_SERVER_URL`)."""
    token: str | None = None
    """Bearer token (`--token`, `FACTFLOW_API_TOKEN`)."""
    timeout: float | None = None
    """`--timeout` in seconds; None means the command's default."""
    output: OutputMode | None = None
    """`--output` given before the command."""
    command_output: OutputMode | None = None
    """`--output` given after the command; it wins."""

    @property
    def mode(self) -> OutputMode:
        """The output mode: command-level `--output`, else global, else auto (TTY → table)."""
        return detect_mode(self.command_output or self.output)

    @property
    def api_url(self) -> str:
        """`<server>/api/v1`, trailing `/` of the server dropped."""
        return self.server.rstrip("/") + "/api/v1"

    def timeout_or(self, default: float | None) -> float | None:
        """`--timeout` if given, else the command's default."""
        return self.timeout if self.timeout is not None else default

    def client(self, *, default_timeout: float | None = DEFAULT_TIMEOUT_SECONDS) -> ApiClient:
        """An API client for this invocation (use it as `async with state.client() as api:`)."""
        from ._client import ApiClient

        return ApiClient(self.api_url, token=self.token, timeout=self.timeout_or(default_timeout))


pass_state = click.make_pass_decorator(CliState)
"""Passes the invocation's `CliState` as the first argument of a command."""


def _set_command_output(ctx: click.Context, _param: click.Parameter, value: OutputMode | None) -> None:
    if value is not None:
        state = ctx.find_object(CliState)
        if state is not None:
            state.command_output = value


def output_option(command: F) -> F:
    """Adds `-o/--output table|json` to a command; it overrides the global `--output`."""
    decorator = click.option(
        "-o",
        "--output",
        type=click.Choice(OUTPUT_MODES),
        default=None,
        expose_value=False,
        callback=_set_command_output,
        help="Output format (default: table on a terminal, JSON otherwise).",
    )
    return decorator(command)


def paging_options(*, default: int, maximum: int | None = None) -> Callable[[F], F]:
    """Adds `--limit` (page size, 1 to `maximum`, default `default`) and `--offset` to a list command."""
    limit = click.option(
        "--limit", type=click.IntRange(1, maximum), default=default, show_default=True, help="Page size."
    )
    offset = click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Items to skip.")

    def decorate(command: F) -> F:
        return limit(offset(command))

    return decorate
