"""Guarded event emission and the throttled `execution.progress` reporter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from factflow_engine._ports import EngineEventSink
from factflow_protocols import EngineEvent, ExecutionProgress

__all__ = ("PROGRESS_INTERVAL_SECONDS", "EventEmitter", "ProgressReporter")

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 0.5
"""At most one `execution.progress` per this many seconds (docs/reference/http-api.md)."""


class EventEmitter:
    """Sends events of one execution to the injected sink; a failing sink is logged, never raised.

    Also satisfies the lineage service's event-sink shape (`emit(execution_id, type, data)`).
    """

    def __init__(self, sink: EngineEventSink | None, execution_id: str) -> None:
        self._sink = sink
        self.execution_id = execution_id
        self._failures = 0

    def __call__(self, event: EngineEvent) -> None:
        self.emit(self.execution_id, event)

    def emit(self, execution_id: str, event: EngineEvent) -> None:
        if self._sink is None:
            return
        try:
            self._sink.emit(execution_id, event)
        except Exception:  # observers never break message processing
            self._failures += 1
            if self._failures == 1 or self._failures % 1000 == 0:
                logger.exception("Event sink failed on %r (%d failures so far)", event.event_type, self._failures)


class ProgressReporter:
    """Emits `execution.progress` when counters change, at most once per interval.

    A change inside the interval schedules one trailing emission at its end, so the last state
    is always reported; `flush()` emits at once (before the final status).

    Args:
        emit: Sends one event.
        snapshot: Builds the current `ExecutionProgress`.
        interval: Minimum seconds between two events.
    """

    def __init__(
        self,
        emit: Callable[[EngineEvent], None],
        snapshot: Callable[[], ExecutionProgress],
        *,
        interval: float = PROGRESS_INTERVAL_SECONDS,
    ) -> None:
        self._emit = emit
        self._snapshot = snapshot
        self._interval = interval
        self._last = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._last_data: ExecutionProgress | None = None
        self._closed = False

    def changed(self) -> None:
        """Counters changed; emit now or schedule the trailing emission."""
        if self._closed or self._timer is not None:
            return
        now = time.monotonic()
        wait = self._last + self._interval - now
        if wait <= 0:
            self._fire()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(wait, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._closed:
            return
        self._send()

    def _send(self) -> None:
        try:
            data = self._snapshot()
        except Exception:  # observers never break processing
            logger.exception("Could not build execution.progress")
            return
        self._last = time.monotonic()
        if data == self._last_data:
            return
        self._last_data = data
        self._emit(data)

    def flush(self) -> None:
        """Emit the current counters now (once before a final status), then stop."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._closed:
            self._last_data = None
            self._send()
        self._closed = True

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._closed = True
