"""Errors raised by factflow-execution; each `code` is the docs/reference/http-api.md `error_code`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factflow_foundation import (
    ConflictError,
    FactflowError,
    InvalidStateError,
    NotFoundError,
    ServiceUnavailableError,
)

if TYPE_CHECKING:
    from factflow_engine.config import ValidationReport

__all__ = (
    "ConfigInactiveError",
    "ConfigNameRequiredError",
    "ConfigNotFoundError",
    "ConfigValidationError",
    "EventStreamerUnavailableError",
    "ExecutionNotFoundError",
    "InvalidStatusTransitionError",
    "ReplayUnavailableError",
    "SnapshotUnreadableError",
    "TagConflictError",
    "VersionConflictError",
    "YamlParseError",
)


class ConfigValidationError(FactflowError):
    """The run gate found validation errors in a config (API: 400 `config_invalid`).

    Args:
        report: The full validation report; the API attaches it as `validation_report`.
        message: One sentence; defaults to a summary naming the first error.
    """

    default_code = "config_invalid"

    def __init__(self, report: ValidationReport, message: str | None = None, *, code: str | None = None) -> None:
        first = report.errors[0] if report.errors else None
        summary = message or (
            f"The config has {report.error_count} validation error(s); first: {first.code} at {first.path!r}: "
            f"{first.message}"
            if first is not None
            else "The config has validation errors."
        )
        super().__init__(summary, code=code)
        self.report = report


class YamlParseError(ConfigValidationError):
    """The YAML cannot be parsed (an E001–E009 issue); nothing is stored (API: 400 `yaml_parse_error`)."""

    default_code = "yaml_parse_error"


class ConfigNotFoundError(NotFoundError):
    """No config has the given id (API: 404 `config_not_found`)."""

    default_code = "config_not_found"


class ConfigInactiveError(ConflictError):
    """The config was deactivated; it cannot be run, edited or replayed into (API: 409 `config_inactive`)."""

    default_code = "config_inactive"


class VersionConflictError(ConflictError):
    """`expected_version` does not match the stored version (API: 409 `version_conflict`)."""

    default_code = "version_conflict"


class ConfigNameRequiredError(FactflowError):
    """Neither the request nor the YAML names the config (API: 422 `request_validation_error`)."""

    default_code = "request_validation_error"


class ExecutionNotFoundError(NotFoundError):
    """No execution has the given id or tag (API: 404 `execution_not_found`)."""

    default_code = "execution_not_found"


class TagConflictError(ConflictError):
    """Another execution already carries the tag (API: 409 `tag_conflict`)."""

    default_code = "tag_conflict"


class InvalidStatusTransitionError(InvalidStateError):
    """The requested status change is not allowed from the current status (API: 400)."""

    default_code = "invalid_status_transition"


class ReplayUnavailableError(ServiceUnavailableError):
    """No replay coordinator is installed in this process (API: 503 `orchestrator_unavailable`)."""

    default_code = "orchestrator_unavailable"


class EventStreamerUnavailableError(ServiceUnavailableError):
    """The event hub is shut down or not started (API: 503 `event_streamer_unavailable`)."""

    default_code = "event_streamer_unavailable"


class SnapshotUnreadableError(FactflowError):
    """An execution's stored config snapshot does not validate (older release, edited row).

    Raised only where the typed snapshot is needed (DAG, routes, stats, replay, recovery); reading
    and listing the execution still work (API: 400 `config_invalid`).
    """

    default_code = "config_invalid"
