"""The `factflow` command-line client (entry point `factflow_cli.main:main`)."""

from __future__ import annotations

from ._errors import ApiError, CliError
from ._exit_codes import ExitCode

__all__ = (
    "ExitCode",
    "CliError",
    "ApiError",
)
