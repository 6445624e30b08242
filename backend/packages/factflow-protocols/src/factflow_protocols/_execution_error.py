"""`ErrorInfo`: why an execution failed, as stored on its row and sent in its events.

Its JSON form is the `error_info` object of an execution (docs/reference/http-api.md):
`{code, message, details}`, in that key order. A stage failure recorded in lineage has its own
shape (`error_type`, `message`, `traceback`, `attempts`, `retryable`) and is not an `ErrorInfo`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

__all__ = ("ErrorInfo", "ErrorInfoData")


class ErrorInfoData(TypedDict):
    """`ErrorInfo` as JSON: the `error_info` object of an execution row, event and API answer."""

    code: str
    message: str
    details: dict[str, Any]
    """Facts of the failure's own shape (counts, the failed step, ...)."""


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A stable `code`, one human sentence and structured facts.

    Codes in use: `start_failed`, `orchestrator_error`, `dead_letter_threshold_exceeded`,
    `recovery_failed`, `replay_publish_failed`, `admin_update`.
    """

    code: str
    """Stable snake_case code."""
    message: str
    """One sentence naming what went wrong."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """JSON-ready facts (counts, the failed step, ...)."""

    def as_dict(self) -> ErrorInfoData:
        """The JSON object `{code, message, details}` (a fresh `details` copy)."""
        return {"code": self.code, "message": self.message, "details": dict(self.details)}
