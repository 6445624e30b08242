"""Value types shared by the response schemas: timestamps and the error envelope."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from factflow_execution import is_uuid_shaped
from factflow_foundation import Timestamp
from factflow_protocols import JSONObject

__all__ = (
    "TAG_PATTERN",
    "ErrorItem",
    "Tag",
    "ErrorResponse",
    "Timestamp",
    "ValidationIssue",
    "ValidationReport",
)


TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"


def _not_uuid(value: str) -> str:
    if is_uuid_shaped(value):
        raise ValueError("a tag must not parse as a UUID")
    return value


Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=TAG_PATTERN),
    AfterValidator(_not_uuid),
]
"""An execution tag (docs/reference/http-api.md): 1–128 chars, not UUID-shaped."""


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorItem(_Response):
    """One field error of a 422 answer."""

    loc: list[str | int]
    """Where the error is: `body`, `query` or `path`, then the field path."""
    msg: str
    """What is wrong."""
    type: str
    """Stable pydantic error type, e.g. `missing`, `extra_forbidden`."""


class ValidationIssue(_Response):
    """One finding of the pipeline validator."""

    severity: str
    """`error` or `warning`."""
    code: str
    """Stable code such as `E103` or `W501`."""
    path: str
    """Dotted path of the offending key; `""` is the whole document."""
    line: int | None
    """1-based line, when known."""
    column: int | None
    """1-based column, when known."""
    message: str
    """One sentence naming the offending value."""
    suggestion: str
    """A deterministic fix."""


class ValidationReport(_Response):
    """All findings for one document."""

    is_valid: bool
    """True iff there are no errors; warnings never invalidate."""
    error_count: int
    """Number of errors."""
    warning_count: int
    """Number of warnings."""
    issues: list[ValidationIssue]
    """Errors first, then warnings, each group by source position, then code."""


class ErrorResponse(_Response):
    """The body of every non-2xx answer (see Errors in the HTTP API reference)."""

    detail: str
    """One sentence naming the offending value."""
    error_code: str
    """Stable snake_case code."""
    correlation_id: str
    """The request's `X-Correlation-ID`."""
    timestamp: Timestamp
    """When the error was produced."""
    errors: list[ErrorItem] | None = None
    """Field errors (422 only)."""
    validation_report: ValidationReport | None = None
    """The validator's report (`yaml_parse_error`, `config_invalid`)."""
    context: JSONObject | None = Field(default=None)
    """Structured facts, e.g. `candidates`, `execution_id`."""
