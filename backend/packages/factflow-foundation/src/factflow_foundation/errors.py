"""The root of every factflow error.

Each package keeps its own short `errors.py` tree below `FactflowError`, grouped by failure
domain. `code` is a stable snake_case string that the API and the CLI surface unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = (
    "ConflictError",
    "FactflowError",
    "InvalidStateError",
    "NotFoundError",
    "ServiceUnavailableError",
)


class FactflowError(Exception):
    """Base class of every error factflow raises on purpose.

    Args:
        message: One sentence naming the offending value.
        code: Stable snake_case error code; defaults to the class's `default_code`.
        context: Structured facts for API error bodies (e.g. `candidates`).
    """

    default_code: ClassVar[str] = "factflow_error"

    def __init__(self, message: str, *, code: str | None = None, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.context: dict[str, Any] = dict(context or {})

    def __str__(self) -> str:
        return self.message


class NotFoundError(FactflowError):
    """An addressed resource does not exist."""

    default_code = "not_found"


class ConflictError(FactflowError):
    """The request conflicts with the current state (duplicate tag, inactive config, ...)."""

    default_code = "conflict"


class InvalidStateError(FactflowError):
    """The operation is not allowed in the resource's current state."""

    default_code = "invalid_state"


class ServiceUnavailableError(FactflowError):
    """A dependency (database, queue, storage, ...) is down or not started."""

    default_code = "service_unavailable"
