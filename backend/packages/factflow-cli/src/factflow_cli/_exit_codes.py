"""Exit codes (docs/reference/cli.md) and how HTTP statuses map onto them."""

from __future__ import annotations

from enum import IntEnum

__all__ = ("ExitCode", "exit_code_for_status")


class ExitCode(IntEnum):
    """Every exit code `factflow` uses."""

    OK = 0
    """Success, or `wait` on `completed`."""
    FAILURE = 1
    """Execution `failed`, validation errors, HTTP 400/401/409/413/429/5xx."""
    USAGE = 2
    """Bad flags or arguments, HTTP 422."""
    CANCELLED = 3
    """`wait` on `cancelled`."""
    INTERRUPTED = 4
    """`wait` on `interrupted`."""
    TIMED_OUT = 5
    """`--timeout` reached."""
    UNREACHABLE = 6
    """DNS failure, refused connection, TLS failure, connect timeout."""
    NOT_FOUND = 7
    """HTTP 404."""
    CTRL_C = 130
    """Interrupted with Ctrl+C."""


def exit_code_for_status(status: int) -> ExitCode:
    """The exit code of a command whose HTTP exchange ended with `status`."""
    if 200 <= status < 300:
        return ExitCode.OK
    if status == 404:
        return ExitCode.NOT_FOUND
    if status == 422:
        return ExitCode.USAGE
    return ExitCode.FAILURE
