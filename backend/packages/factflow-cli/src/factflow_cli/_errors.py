"""Errors a command ends with, and how they are printed (docs/reference/cli.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from ._exit_codes import ExitCode, exit_code_for_status
from ._output import OutputMode

if TYPE_CHECKING:
    from factflow_protocols import JSONObject

__all__ = ("ApiError", "CliError", "print_error")

_TOKEN_HINT = "hint: the server wants a token; pass --token TOKEN or set FACTFLOW_API_TOKEN"


class CliError(Exception):
    """Ends a command: printed on stderr, then the process exits with `exit_code`.

    Args:
        detail: One sentence naming the offending value.
        exit_code: The exit code (docs/reference/cli.md).
        error_code: The API's snake_case `error_code`, when there is one.
        status: The HTTP status, when the error came from the server.
        correlation_id: The request's correlation id, when the server answered.
    """

    def __init__(
        self,
        detail: str,
        *,
        exit_code: ExitCode = ExitCode.FAILURE,
        error_code: str | None = None,
        status: int | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.exit_code = exit_code
        self.error_code = error_code
        self.status = status
        self.correlation_id = correlation_id

    @property
    def notes(self) -> list[str]:
        """Lines printed under the error in table mode."""
        return []

    @property
    def hint(self) -> str | None:
        """A line printed under the error in table mode."""
        return _TOKEN_HINT if self.status == 401 else None

    def to_dict(self) -> JSONObject:
        return {
            "status": self.status,
            "error_code": self.error_code,
            "detail": self.detail,
            "correlation_id": self.correlation_id,
        }


class ApiError(CliError):
    """A non-2xx answer of the API; `body` is its ErrorResponse (docs/reference/http-api.md) or `{}`."""

    def __init__(
        self,
        detail: str,
        *,
        status: int,
        error_code: str | None = None,
        correlation_id: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            detail,
            exit_code=exit_code_for_status(status),
            error_code=error_code,
            status=status,
            correlation_id=correlation_id,
        )
        self.body: JSONObject = dict(body or {})

    @property
    def notes(self) -> list[str]:
        """Lines printed under the error in table mode: the issues of a validation report, candidates."""
        lines: list[str] = []
        report = self.body.get("validation_report")
        if isinstance(report, Mapping):
            for issue in report.get("issues") or []:
                if isinstance(issue, Mapping):
                    where = f" {issue['path']}" if issue.get("path") else ""
                    line = f" (line {issue['line']})" if issue.get("line") else ""
                    head = f"{issue.get('severity', '')} {issue.get('code', '')}"
                    lines.append(f"  {head}{where}{line}: {issue.get('message', '')}")
        context = self.body.get("context")
        if isinstance(context, Mapping) and isinstance(context.get("candidates"), list) and context["candidates"]:
            lines.append("  candidates: " + ", ".join(str(candidate) for candidate in context["candidates"]))
        return lines

    def to_dict(self) -> JSONObject:
        fields = super().to_dict()
        # The report and context are what a script needs to act on the error (issues, candidates).
        for extra in ("validation_report", "context"):
            if self.body.get(extra) is not None:
                fields[extra] = self.body[extra]
        return fields

    @classmethod
    def from_response(
        cls, status: int, body: object, *, reason: str = "", correlation_id: str | None = None
    ) -> ApiError:
        """Build the error from a status and a decoded body (any shape; non-ErrorResponse bodies are tolerated)."""
        fields = body if isinstance(body, Mapping) else {}
        detail = fields.get("detail")
        if not isinstance(detail, str) or not detail:
            detail = f"the server answered HTTP {status}{f' {reason}' if reason else ''}"
        error_code = fields.get("error_code")
        cid = fields.get("correlation_id") or correlation_id
        return cls(
            detail,
            status=status,
            error_code=error_code if isinstance(error_code, str) else None,
            correlation_id=cid if isinstance(cid, str) else None,
            body=fields,
        )


def _text(error: CliError) -> str:
    parts = [
        part
        for part in (
            error.error_code,
            f"status {error.status}" if error.status is not None else None,
            f"correlation {error.correlation_id}" if error.correlation_id else None,
        )
        if part
    ]
    return f"error: {error.detail}" + (f" [{', '.join(parts)}]" if parts else "")


def print_error(error: CliError, mode: OutputMode) -> None:
    """Print `error` on stderr: `error: <detail> [<code>, status <n>, correlation <id>]`, or JSON in JSON mode."""
    if mode == "json":
        click.echo(json.dumps({"error": error.to_dict()}, indent=2, ensure_ascii=False), err=True)
        return
    color = False if os.environ.get("NO_COLOR") else None
    text = _text(error)
    click.echo(click.style("error:", fg="red", bold=True) + text[len("error:") :], err=True, color=color)
    for note in error.notes:
        click.echo(note, err=True, color=color)
    if error.hint:
        click.echo(error.hint, err=True, color=color)
