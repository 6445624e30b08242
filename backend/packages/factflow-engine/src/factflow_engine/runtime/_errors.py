"""Errors of the engine runtime."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from factflow_foundation import FactflowError, ServiceUnavailableError

__all__ = ("CircuitOpenError", "ExecutionStartError", "TooManyConcurrentExecutionsError")


class TooManyConcurrentExecutionsError(FactflowError):
    """The manager holds `MAX_CONCURRENT_EXECUTIONS` executions already (API: 429).

    `context` carries `max_concurrent` and `running`.
    """

    default_code = "too_many_concurrent_executions"


class ExecutionStartError(ServiceUnavailableError):
    """An execution could not start (API: 503); it has already been ended `failed` (`start_failed`).

    Args:
        message: One sentence naming what failed.
        code: `orchestrator_unavailable` or `queue_unavailable` (the queue could not be reached).
        context: Structured facts (`execution_id`, `step`).
    """

    default_code = "orchestrator_unavailable"

    def __init__(
        self,
        message: str,
        *,
        code: Literal["orchestrator_unavailable", "queue_unavailable"] = "orchestrator_unavailable",
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, context=context)


class CircuitOpenError(FactflowError):
    """A circuit breaker rejected a call; the caller waits and tries again at `retry_at`.

    Args:
        retry_at: When a call may be admitted again (UTC).
        retry_after_seconds: The same moment as a delay from now.
        breaker: Name of the breaker, for messages.
    """

    default_code = "circuit_open"

    def __init__(self, retry_at: datetime, *, retry_after_seconds: float = 0.0, breaker: str = "") -> None:
        super().__init__(
            f"Circuit breaker {breaker!r} is open; retry at {retry_at.isoformat()}.",
            context={"retry_at": retry_at.isoformat(), "breaker": breaker},
        )
        self.retry_at = retry_at
        self.retry_after_seconds = retry_after_seconds
