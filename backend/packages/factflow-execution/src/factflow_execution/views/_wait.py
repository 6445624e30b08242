"""`WaitResult`: what waiting for an execution found."""

from __future__ import annotations

from typing import Any

from .._types import ExecutionStatus
from ._base import View
from ._stats import ExecutionStats

__all__ = ("ExecutionWaitResult", "WaitResult")


class WaitResult(View):
    """E6 answer (200 also on timeout)."""

    execution_id: str
    completed: bool
    """False when the wait timed out."""
    status: ExecutionStatus
    duration_ms: float | None
    """`None` while running."""
    waited_ms: float
    message: str
    error_info: dict[str, Any] | None
    """`{code, message, details}` as stored."""
    stats: ExecutionStats | None


ExecutionWaitResult = WaitResult
"""What `ExecutionWaiter.wait` returns: the `WaitResult` view itself (the package's long-standing name)."""
