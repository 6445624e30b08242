"""`ExecutionEventHub`: the in-memory `EngineEventSink` behind waiters and event streams."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Final

from factflow_protocols import EngineEvent, ErrorInfo, ExecutionStatusChanged, JSONObject

from ._events import EndReason, EventKind, EventStamper, StreamEnd, StreamEvent, event_kind
from .errors import EventStreamerUnavailableError

__all__ = (
    "BUFFER_TTL_SECONDS",
    "EXECUTION_BUFFER_SIZE",
    "PROGRESS_INTERVAL_SECONDS",
    "STORAGE_BUFFER_SIZE",
    "EventTap",
    "ExecutionEventHub",
    "HubSubscription",
)

logger = logging.getLogger(__name__)

EXECUTION_BUFFER_SIZE: Final = 1_000
"""Execution events kept per execution for `Last-Event-ID` resume."""
STORAGE_BUFFER_SIZE: Final = 10_000
"""Storage events kept per execution for `Last-Event-ID` resume."""
BUFFER_TTL_SECONDS: Final = 600.0
"""How long buffered events stay available for resume."""
PROGRESS_INTERVAL_SECONDS: Final = 0.5
"""At most one `execution.progress` per execution per this many seconds."""
SUBSCRIBER_QUEUE_SIZE: Final = 1_000
"""Default bound of one subscriber's queue; the oldest events are dropped on overflow."""

EventTap = Callable[[str, StreamEvent], None]
"""Sees every event the hub delivers, with its id (`add_tap`); must not block or raise."""

_EXECUTION_KIND: tuple[EventKind, ...] = ("execution",)
_FINAL_FOR_PROGRESS = frozenset({"completed", "failed", "cancelled", "interrupted"})
_FINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass(slots=True)
class _Buffered:
    event: StreamEvent
    at: float


@dataclass(slots=True)
class _ExecutionState:
    execution: deque[_Buffered] = field(default_factory=lambda: deque(maxlen=EXECUTION_BUFFER_SIZE))
    storage: deque[_Buffered] = field(default_factory=lambda: deque(maxlen=STORAGE_BUFFER_SIZE))
    last_activity: float = 0.0
    ended: StreamEnd | None = None
    progress_sent_at: float = float("-inf")
    progress_pending: JSONObject | None = None
    progress_timer: asyncio.TimerHandle | None = None

    def buffer(self, kind: EventKind) -> deque[_Buffered]:
        return self.storage if kind == "storage" else self.execution


class HubSubscription:
    """One subscriber's view of the hub: a bounded queue of live events plus end signals.

    The queue drops its oldest events on overflow (`dropped` counts them); end signals and the
    hub's shutdown are kept apart from the queue, so they are never lost. Use as a context
    manager, or call `close()`.
    """

    def __init__(
        self,
        hub: ExecutionEventHub,
        execution_ids: Collection[str],
        *,
        kinds: Collection[EventKind],
        max_queue: int,
    ) -> None:
        self.execution_ids: frozenset[str] = frozenset(execution_ids)
        """Executions watched."""
        self.kinds: frozenset[EventKind] = frozenset(kinds)
        """Event kinds queued (an empty set queues nothing: end signals only)."""
        self.dropped = 0
        """Events dropped because the queue was full."""
        self._hub = hub
        self._queue: deque[StreamEvent] = deque(maxlen=max(max_queue, 1))
        self._ended: dict[str, StreamEnd] = {}
        self._shutdown: EndReason | None = None
        self._wakeup = asyncio.Event()
        self._closed = False

    # -- fed by the hub (event loop thread) --------------------------------------------------

    def _push(self, event: StreamEvent) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._wakeup.set()

    def _end(self, execution_id: str, end: StreamEnd) -> None:
        self._ended.setdefault(execution_id, end)
        self._wakeup.set()

    def _stop(self, reason: EndReason) -> None:
        self._shutdown = reason
        self._wakeup.set()

    # -- read by the stream ----------------------------------------------------------------

    def drain(self) -> list[StreamEvent]:
        """Every queued event, oldest first, removing them from the queue.

        Also re-arms `wait()`: anything arriving after this call wakes the next `wait()`.
        """
        self._wakeup.clear()
        events = list(self._queue)
        self._queue.clear()
        return events

    def ended(self, execution_id: str) -> StreamEnd | None:
        """The end signal given for `execution_id`, if any."""
        return self._ended.get(execution_id)

    @property
    def has_pending(self) -> bool:
        """Whether something arrived since the last `drain()` (events or an end signal)."""
        return bool(self._queue) or self._wakeup.is_set()

    @property
    def all_ended(self) -> bool:
        """Whether every watched execution got an end signal."""
        return all(execution_id in self._ended for execution_id in self.execution_ids)

    @property
    def shutdown_reason(self) -> EndReason | None:
        """`shutdown` once the hub shut down, else `None`."""
        return self._shutdown

    async def wait(self, seconds: float | None) -> bool:
        """Wait until something arrived since the last `drain()` (event, end signal, shutdown).

        Returns at once if something already did; returns False when `seconds` pass first
        (`None`: no limit).
        """
        if self._wakeup.is_set() or self._queue or self._shutdown is not None:
            return True
        try:
            async with asyncio.timeout(seconds):
                await self._wakeup.wait()
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Stop receiving; idempotent."""
        if not self._closed:
            self._closed = True
            self._hub._unsubscribe(self)

    def __enter__(self) -> HubSubscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ExecutionEventHub:
    """Implements `EngineEventSink` in process memory.

    - `emit()` never blocks or raises. It stamps `type`, `timestamp`, `execution_id` and a
      UUIDv7 event id (strictly increasing within the process), keeps the event in the
      execution's resume buffer (the last 1 000 execution events and 10 000 storage events, for
      10 minutes) and hands it to each subscriber's bounded queue.
    - `execution.progress` goes out at most once per 500 ms per execution; a change inside the
      window is sent at its end, and a pending one is sent before a final `execution.status`.
    - `finish()` announces a stopped execution: `execution.status`, `execution.finished` (storage
      streams) and an end signal (`terminal`, or `shutdown` once `begin_shutdown()` was called)
      to every subscriber of it. Call it only after the row holds the final status.
    - `shutdown()` ends every stream with `shutdown` and refuses new subscribers.

    Call it from the event loop's thread; calls from other threads are handed to the loop.
    """

    def __init__(self, *, progress_interval: float = PROGRESS_INTERVAL_SECONDS) -> None:
        self._progress_interval = progress_interval
        self._states: dict[str, _ExecutionState] = {}
        self._subscribers: dict[str, set[HubSubscription]] = {}
        self._stamper = EventStamper()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._shutting_down = False
        self._closed = False
        self._last_prune = time.monotonic()
        self._taps: list[EventTap] = []
        self._watch_listeners: list[Callable[[], None]] = []
        self.emitted_total = 0
        """Events accepted since start."""

    # ------------------------------------------------------------------ state

    @property
    def shutting_down(self) -> bool:
        """True once the server began stopping: streams then end with `shutdown`."""
        return self._shutting_down or self._closed

    @property
    def is_closed(self) -> bool:
        """True after `shutdown()`."""
        return self._closed

    def begin_shutdown(self) -> None:
        """Mark the server as stopping; executions finishing from now on end streams with `shutdown`."""
        self._shutting_down = True

    async def shutdown(self) -> None:
        """End every stream with `shutdown` and refuse new subscribers; idempotent."""
        self._shutting_down = True
        self._closed = True
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription._stop("shutdown")
        for state in self._states.values():
            if state.progress_timer is not None:
                state.progress_timer.cancel()
                state.progress_timer = None

    def new_event_id(self) -> str:
        """A fresh UUIDv7, greater than every id handed out before (ids order events)."""
        return self._stamper.new_event_id()

    def make_event(self, execution_id: str | None, event_type: str, data: JSONObject) -> StreamEvent:
        """An unbuffered event with the standard fields (`type`, `timestamp`, `execution_id`) and a new id."""
        return self._stamper.make_event(execution_id, event_type, data)

    # ------------------------------------------------------------------ EngineEventSink

    def emit(self, execution_id: str, event: EngineEvent) -> None:
        """Accept one engine event; never raises."""
        try:
            event_type, data = event.event_type, event.data()
        except Exception:  # observers never break message processing
            logger.exception("Event hub could not read %r for execution %r", event, execution_id)
            return
        self.publish(execution_id, event_type, data)

    def publish(self, execution_id: str, event_type: str, data: JSONObject) -> None:
        """Accept one event by name and `data` fields (the hub's own events; any thread); never raises."""
        try:
            if not self._on_loop_thread():
                assert self._loop is not None
                self._loop.call_soon_threadsafe(self._emit_now, execution_id, event_type, dict(data))
                return
            self._emit_now(execution_id, event_type, data)
        except Exception:  # observers never break message processing
            logger.exception("Event hub failed to accept %r for execution %r", event_type, execution_id)

    def _on_loop_thread(self) -> bool:
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                return True  # no loop anywhere yet: nobody can be subscribed; handle inline
            self._loop_thread = threading.get_ident()
        return threading.get_ident() == self._loop_thread or self._loop.is_closed()

    def _emit_now(self, execution_id: str, event_type: str, data: JSONObject) -> None:
        if self._closed:
            return
        state = self._state(execution_id)
        if event_type == "execution.progress":
            self._progress(execution_id, state, data)
            return
        if event_type == "execution.status" and data.get("status") in _FINAL_FOR_PROGRESS:
            self._flush_progress(execution_id, state)
        self._deliver(execution_id, state, event_type, data)

    def _state(self, execution_id: str) -> _ExecutionState:
        now = time.monotonic()
        if now - self._last_prune > 60:
            self._prune(now)
        state = self._states.get(execution_id)
        if state is None:
            state = self._states[execution_id] = _ExecutionState()
        state.last_activity = now
        return state

    def _deliver(self, execution_id: str, state: _ExecutionState, event_type: str, data: JSONObject) -> None:
        event = self.make_event(execution_id, event_type, data)
        self._buffer_and_push(execution_id, state, event)
        for tap in self._taps:
            try:
                tap(execution_id, event)
            except Exception:  # a tap never breaks message processing
                logger.exception("An event tap failed on %r", event.event)

    def add_tap(self, tap: EventTap) -> None:
        """Also hand every event this hub delivers to `tap` (events from `ingest` excluded)."""
        self._taps.append(tap)

    def ingest(self, execution_id: str, event: StreamEvent) -> None:
        """Deliver an event another server's hub delivered, keeping its id (call on the loop).

        Its `execution.finished` ends this hub's streams of the execution (`terminal`), as `finish`
        does for executions run here.
        """
        if self._closed:
            return
        self._stamper.observe(event.id)
        state = self._state(execution_id)
        self._buffer_and_push(execution_id, state, event)
        status = event.data.get("status")
        # `interrupted` is no end here: the server that takes over resumes the execution.
        if event.event == "execution.finished" and status in _FINAL and state.ended is None:
            end = StreamEnd(reason="terminal", status=str(status))
            state.ended = end
            for subscription in list(self._subscribers.get(execution_id, ())):
                subscription._end(execution_id, end)

    def _buffer_and_push(self, execution_id: str, state: _ExecutionState, event: StreamEvent) -> None:
        kind = event_kind(event.event)
        now = time.monotonic()
        buffer = state.buffer(kind)
        buffer.append(_Buffered(event, now))
        while buffer and now - buffer[0].at > BUFFER_TTL_SECONDS:
            buffer.popleft()
        self.emitted_total += 1
        for subscription in self._subscribers.get(execution_id, ()):
            if kind in subscription.kinds:
                subscription._push(event)

    # ------------------------------------------------------------------ progress throttling

    def _progress(self, execution_id: str, state: _ExecutionState, data: JSONObject) -> None:
        now = time.monotonic()
        wait = state.progress_sent_at + self._progress_interval - now
        if wait <= 0 and state.progress_timer is None:
            state.progress_sent_at = now
            self._deliver(execution_id, state, "execution.progress", data)
            return
        state.progress_pending = dict(data)
        if state.progress_timer is None and self._loop is not None and not self._loop.is_closed():
            state.progress_timer = self._loop.call_later(max(wait, 0.0), self._progress_due, execution_id)

    def _progress_due(self, execution_id: str) -> None:
        state = self._states.get(execution_id)
        if state is None:
            return
        state.progress_timer = None
        self._flush_progress(execution_id, state)

    def _flush_progress(self, execution_id: str, state: _ExecutionState) -> None:
        if state.progress_timer is not None:
            state.progress_timer.cancel()
            state.progress_timer = None
        if state.progress_pending is not None and not self._closed:
            data, state.progress_pending = state.progress_pending, None
            state.progress_sent_at = time.monotonic()
            self._deliver(execution_id, state, "execution.progress", data)

    # ------------------------------------------------------------------ end of an execution

    def finish(
        self,
        execution_id: str,
        *,
        status: str,
        previous_status: str | None,
        error_info: ErrorInfo | None = None,
        reason: EndReason | None = None,
    ) -> None:
        """Announce that an execution stopped (the row must already hold `status`).

        Emits `execution.status` (after any pending progress) and `execution.finished`, then
        gives every subscriber of the execution an end signal.

        Args:
            execution_id: The execution.
            status: The stopped status now stored.
            previous_status: The status before (normally `running`).
            error_info: Why it failed, as stored.
            reason: End reason; defaults to `shutdown` while the server stops, else `terminal`.
        """
        try:
            self.emit(execution_id, ExecutionStatusChanged(status, previous_status, error_info))
            self.publish(execution_id, "execution.finished", {"status": status})
            end = StreamEnd(reason=reason or ("shutdown" if self.shutting_down else "terminal"), status=status)
            state = self._state(execution_id)
            state.ended = end
            for subscription in list(self._subscribers.get(execution_id, ())):
                subscription._end(execution_id, end)
        except Exception:
            logger.exception("Event hub failed to announce the end of execution %r", execution_id)

    # ------------------------------------------------------------------ subscribers and buffers

    def subscribe(
        self,
        execution_ids: Iterable[str],
        *,
        kinds: Collection[EventKind] = _EXECUTION_KIND,
        max_queue: int = SUBSCRIBER_QUEUE_SIZE,
    ) -> HubSubscription:
        """Start receiving live events and end signals of `execution_ids`.

        Raises:
            EventStreamerUnavailableError: The hub was shut down.
        """
        if self._closed:
            raise EventStreamerUnavailableError("The event streamer is shut down.")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
        subscription = HubSubscription(self, list(execution_ids), kinds=kinds, max_queue=max_queue)
        newly_watched = False
        for execution_id in subscription.execution_ids:
            newly_watched = newly_watched or execution_id not in self._subscribers
            self._subscribers.setdefault(execution_id, set()).add(subscription)
        if newly_watched:
            for listener in self._watch_listeners:
                try:
                    listener()
                except Exception:  # a listener never breaks a subscription
                    logger.exception("A watch listener failed")
        return subscription

    def add_watch_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever a subscription makes an execution watched that was not."""
        self._watch_listeners.append(listener)

    def _unsubscribe(self, subscription: HubSubscription) -> None:
        for execution_id in subscription.execution_ids:
            subscribers = self._subscribers.get(execution_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[execution_id]

    def watched_execution_ids(self) -> list[str]:
        """Executions with at least one open subscription (what other processes should send here)."""
        return list(self._subscribers)

    def subscriber_count(self, execution_id: str | None = None) -> int:
        """Open subscriptions (of one execution, or in total)."""
        if execution_id is not None:
            return len(self._subscribers.get(execution_id, ()))
        return len({s for subs in self._subscribers.values() for s in subs})

    def buffered(self, execution_id: str, *, kind: EventKind, after: str | None = None) -> list[StreamEvent]:
        """Buffered events of one execution and kind, oldest first, newer than the event id `after`.

        Events older than 10 minutes are gone. With `after=None`, every buffered event.
        """
        state = self._states.get(execution_id)
        if state is None:
            return []
        now = time.monotonic()
        return [
            item.event
            for item in state.buffer(kind)
            if now - item.at <= BUFFER_TTL_SECONDS and (after is None or item.event.id > after)
        ]

    def ended(self, execution_id: str) -> StreamEnd | None:
        """The end announced for `execution_id` in this process, if any."""
        state = self._states.get(execution_id)
        return state.ended if state is not None else None

    def _prune(self, now: float) -> None:
        self._last_prune = now
        for execution_id, state in list(self._states.items()):
            if now - state.last_activity > BUFFER_TTL_SECONDS and execution_id not in self._subscribers:
                if state.progress_timer is not None:
                    state.progress_timer.cancel()
                del self._states[execution_id]
