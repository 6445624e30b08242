"""`ExecutionWaiter`: block until an execution stops, driven by hub signals (`wait_for_execution`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ._events import EventKind
from ._hub import ExecutionEventHub
from ._streams import ExecutionReader
from .views import WaitResult

__all__ = ("ExecutionWaiter",)

_NO_EVENTS: tuple[EventKind, ...] = ()


def _seconds(timeout: timedelta | float | None) -> float | None:
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    return max(seconds, 0.0)


class ExecutionWaiter:
    """Waits for one execution to reach `completed`, `failed`, `cancelled` or `interrupted`.

    It subscribes to the hub before reading the row, so a transition between the read and the
    wait cannot be missed; an execution already stopped returns at once. It never polls: it
    sleeps on the hub's end signal (given only after the row holds the final status).

    Args:
        execution_id: The execution (an id; resolve refs first).
        service: Reads rows and stats (the `ExecutionService`).
        hub: The event hub.
    """

    def __init__(self, execution_id: str, *, service: ExecutionReader, hub: ExecutionEventHub) -> None:
        self.execution_id = execution_id
        self._service = service
        self._hub = hub

    async def wait(self, timeout: timedelta | float | None = 300.0) -> WaitResult:  # noqa: ASYNC109  (contract name)
        """Wait up to `timeout` (a `timedelta`, seconds, or `None` for no limit).

        Raises:
            ExecutionNotFoundError: No such execution.
            EventStreamerUnavailableError: The hub is shut down.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        limit = _seconds(timeout)
        with self._hub.subscribe([self.execution_id], kinds=_NO_EVENTS) as subscription:
            execution = await self._service.get(self.execution_id)
            while not execution.is_stopped:
                remaining = None if limit is None else limit - (loop.time() - started)
                if remaining is not None and remaining <= 0:
                    break
                await subscription.wait(remaining)
                subscription.drain()
                execution = await self._service.get(self.execution_id)
                if subscription.shutdown_reason is not None:
                    break
        waited_ms = (loop.time() - started) * 1000.0
        stats = await self._service.stats(self.execution_id)
        completed = execution.is_stopped
        if completed:
            message = f"Execution {self.execution_id} is {execution.status}."
        else:
            waited = f"{waited_ms / 1000.0:.1f} s"
            message = f"Timed out after {waited}; execution {self.execution_id} is still {execution.status}."
        return WaitResult(
            execution_id=self.execution_id,
            completed=completed,
            status=execution.status,
            duration_ms=execution.duration_ms if completed else None,
            waited_ms=waited_ms,
            message=message,
            error_info=execution.error_info,
            stats=stats,
        )
