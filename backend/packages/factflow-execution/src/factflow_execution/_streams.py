"""`ExecutionEventStreamer` (E7) and `StorageEventStreamer` (S4/E14): typed SSE event sources."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TYPE_CHECKING, Final, Protocol

from factflow_foundation import FactflowError
from factflow_protocols import JSONObject

from ._events import EndReason, EventKind, StreamEvent
from ._hub import STORAGE_BUFFER_SIZE as STORAGE_SUBSCRIBER_QUEUE_SIZE
from ._hub import ExecutionEventHub, HubSubscription
from ._models import PipelineExecution

if TYPE_CHECKING:
    from .views import ExecutionStats

__all__ = (
    "DEFAULT_STREAM_TIMEOUT_SECONDS",
    "MAX_STORAGE_STREAM_EXECUTIONS",
    "STATUS_POLL_SECONDS",
    "ExecutionEventStreamer",
    "ExecutionReader",
    "StorageEventStreamer",
)

logger = logging.getLogger(__name__)

DEFAULT_STREAM_TIMEOUT_SECONDS: Final = 300.0
_EXECUTION: tuple[EventKind, ...] = ("execution",)
_STORAGE: tuple[EventKind, ...] = ("storage",)
MAX_STORAGE_STREAM_EXECUTIONS: Final = 20
STATUS_POLL_SECONDS: Final = 5.0
"""How often a quiet execution stream reads the stored status (`ExecutionEventStreamer`)."""
_FINAL_STATUSES: Final = frozenset({"completed", "failed", "cancelled"})
_CONFIRM_SECONDS: Final = 1.0
"""How long after first reading a final stored status a quiet stream reads it again before it ends."""


class ExecutionReader(Protocol):
    """What streams and waiters read from the execution service."""

    async def get(self, ref: str) -> PipelineExecution:
        """The execution (raises `ExecutionNotFoundError`)."""
        ...

    async def event_snapshot(self, execution: PipelineExecution) -> JSONObject:
        """`execution.snapshot` data: `execution`, `message_counts`, `stage_counts`, `routes`."""
        ...

    async def stats(self, ref: str) -> ExecutionStats:
        """Current (or frozen) stats."""
        ...


def _error_fields(exc: BaseException) -> JSONObject:
    if isinstance(exc, FactflowError):
        return {"error_code": exc.code, "detail": exc.message}
    return {"error_code": "internal_error", "detail": "The event stream failed unexpectedly."}


class _Deadline:
    def __init__(self, seconds: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._at = None if seconds is None else loop.time() + seconds

    def remaining(self) -> float | None:
        return None if self._at is None else max(self._at - self._loop.time(), 0.0)


def _sooner(*seconds: float | None) -> float | None:
    """The shortest of the bounds given (`None`: no bound)."""
    bounds = [value for value in seconds if value is not None]
    return min(bounds) if bounds else None


class ExecutionEventStreamer:
    """Execution events of one execution (`stream_execution_events`).

    Order: buffered events newer than `last_event_id`, a fresh `execution.snapshot`, live
    events, then `stream.end` (`terminal` when the execution stops — at once if it already
    had —, `timeout`, `shutdown`, or `error` after an `error` event). A slow client whose queue
    overflowed loses the oldest events and gets a fresh `execution.snapshot` that restores the
    absolute counters.

    Args:
        hub: The event hub.
        reader: The execution service (rows and snapshots).
        queue_size: Live events held for a slow client before the oldest are dropped.
        status_poll_seconds: How often a quiet stream reads the stored status: an execution that
            another server runs, whose end this hub may not have been told, still ends the stream.
    """

    def __init__(
        self,
        hub: ExecutionEventHub,
        reader: ExecutionReader,
        *,
        queue_size: int = 1_000,
        status_poll_seconds: float = STATUS_POLL_SECONDS,
    ) -> None:
        self._hub = hub
        self._reader = reader
        self._queue_size = queue_size
        self._status_poll_seconds = status_poll_seconds

    async def stream(
        self,
        execution_id: str,
        *,
        timeout: float | None = DEFAULT_STREAM_TIMEOUT_SECONDS,  # noqa: ASYNC109  (contract name: the stream's lifetime)
        include_messages: bool = True,
        last_event_id: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Yield the stream's events; the caller frames them (keep-alives are the caller's job).

        Args:
            execution_id: The execution (resolve refs first so a 404 happens before the stream).
            timeout: Stream lifetime in seconds (`None`: until the execution stops).
            include_messages: Emit `stage.*` events.
            last_event_id: Resume after this event id (`Last-Event-ID`).

        Raises:
            EventStreamerUnavailableError: The hub is shut down (on the first iteration, before
                anything is yielded; check `hub.is_closed` to answer 503 before opening a stream).
        """
        events = self._run(execution_id, timeout, include_messages, last_event_id)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    def _wanted(self, event: StreamEvent, include_messages: bool) -> bool:
        return include_messages or not event.event.startswith("stage.")

    async def _run(
        self,
        execution_id: str,
        lifetime: float | None,
        include_messages: bool,
        last_event_id: str | None,
    ) -> AsyncGenerator[StreamEvent, None]:
        with self._hub.subscribe([execution_id], kinds=_EXECUTION, max_queue=self._queue_size) as subscription:
            deadline = _Deadline(lifetime)
            newest = last_event_id or ""
            if last_event_id:
                for event in self._hub.buffered(execution_id, kind="execution", after=last_event_id):
                    newest = event.id
                    if self._wanted(event, include_messages):
                        yield event
            try:
                execution = await self._reader.get(execution_id)
                snapshot = await self._reader.event_snapshot(execution)
            except Exception as exc:
                logger.warning("Execution stream of %r failed building its snapshot: %s", execution_id, exc)
                yield self._hub.make_event(execution_id, "error", _error_fields(exc))
                yield self._end(execution_id, "error", None)
                return
            yield self._hub.make_event(execution_id, "execution.snapshot", snapshot)
            status: str | None = execution.status
            if execution.is_stopped:
                yield self._end(execution_id, "terminal", status)
                return
            dropped = 0
            poll = _Deadline(self._status_poll_seconds)
            confirmed = False
            while True:
                batch = [event for event in subscription.drain() if event.id > newest]  # newer than the buffer
                if batch:
                    for event in batch:
                        if event.event == "execution.status":
                            status = event.data.get("status") or status
                        if self._wanted(event, include_messages):
                            yield event
                    continue  # drain what arrived while the client was reading, before any end
                if subscription.dropped > dropped:
                    dropped = subscription.dropped
                    refreshed = await self._snapshot(execution_id)
                    if refreshed is not None:
                        yield refreshed
                    continue
                stored_final = False
                if poll.remaining() == 0:
                    stored_final = await self._stored_final(subscription, execution_id, status)
                    # A final status seen once is confirmed a moment later: the end the server that ran
                    # the execution announces (with its last events) may be on its way.
                    poll = _Deadline(_CONFIRM_SECONDS if stored_final else self._status_poll_seconds)
                    stored_final, confirmed = stored_final and confirmed, stored_final
                final = await self._final_event(subscription, execution_id, deadline, status, stored_final=stored_final)
                if final is not None:
                    yield final
                    return
                await subscription.wait(_sooner(deadline.remaining(), poll.remaining()))

    async def _final_event(
        self,
        subscription: HubSubscription,
        execution_id: str,
        deadline: _Deadline,
        status: str | None,
        *,
        stored_final: bool,
    ) -> StreamEvent | None:
        """`stream.end` when the execution ended, the hub shut down or the lifetime is over; else None.

        With `stored_final`, the final status stored by another server (which this hub was not told
        of, read twice) ends the stream too.
        """
        end = subscription.ended(execution_id)
        if end is not None:
            return self._end(execution_id, end.reason, end.status)
        if subscription.shutdown_reason is not None:
            return self._end(execution_id, "shutdown", status)
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            return self._end(execution_id, "timeout", await self._current_status(execution_id, status))
        if stored_final:
            return self._end(execution_id, "terminal", await self._current_status(execution_id, status))
        return None

    async def _stored_final(self, subscription: HubSubscription, execution_id: str, status: str | None) -> bool:
        """Whether the stored status is final and nothing is left to send."""
        stored = await self._current_status(execution_id, status)
        return stored in _FINAL_STATUSES and not subscription.has_pending

    async def _snapshot(self, execution_id: str) -> StreamEvent | None:
        try:
            execution = await self._reader.get(execution_id)
            data = await self._reader.event_snapshot(execution)
        except FactflowError as exc:
            logger.warning("Could not refresh the snapshot of execution %r: %s", execution_id, exc)
            return None
        return self._hub.make_event(execution_id, "execution.snapshot", data)

    async def _current_status(self, execution_id: str, fallback: str | None) -> str | None:
        try:
            return (await self._reader.get(execution_id)).status
        except FactflowError:
            return fallback

    def _end(self, execution_id: str, reason: EndReason, status: str | None) -> StreamEvent:
        return self._hub.make_event(execution_id, "stream.end", {"reason": reason, "status": status})


_Filters = tuple[str | None, str | None, str | None, tuple[str, ...]]
"""route_id, stage, file-name prefix, extensions."""


class _StorageStreamState:
    def __init__(self, ids: list[str], *, newest: str) -> None:
        self.ids = ids
        self.newest = newest
        self.statuses: dict[str, str | None] = {}
        self.finished: set[str] = set()

    @property
    def all_finished(self) -> bool:
        return all(execution_id in self.finished for execution_id in self.ids)


def _normalise_extensions(extension: str | Sequence[str] | None) -> tuple[str, ...]:
    if extension is None:
        return ()
    parts = extension.split(",") if isinstance(extension, str) else list(extension)
    cleaned = [part.strip() for part in parts if part and part.strip()]
    return tuple(part if part.startswith(".") else f".{part}" for part in cleaned)


class StorageEventStreamer:
    """Storage writes of 1–20 executions, multiplexed (`stream_storage_events`, `stream_execution_storage_events`).

    Emits `storage.object.created` (filtered by route, stage, file-name prefix and extension)
    and `execution.finished` per watched execution; ends with `stream.end` `terminal` once all
    watched executions stopped (unless `keep_open`), `timeout`, `shutdown` or `error`.

    Args:
        hub: The event hub.
        reader: The execution service (rows).
        queue_size: Live events held for a slow client before the oldest are dropped.
    """

    def __init__(
        self, hub: ExecutionEventHub, reader: ExecutionReader, *, queue_size: int = STORAGE_SUBSCRIBER_QUEUE_SIZE
    ) -> None:
        self._hub = hub
        self._reader = reader
        self._queue_size = queue_size

    async def stream(
        self,
        execution_ids: Sequence[str],
        *,
        route_id: str | None = None,
        stage: str | None = None,
        path: str | None = None,
        extension: str | Sequence[str] | None = None,
        timeout: float | None = DEFAULT_STREAM_TIMEOUT_SECONDS,  # noqa: ASYNC109  (contract name: the stream's lifetime)
        keep_open: bool = False,
        last_event_id: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Yield the stream's events.

        Args:
            execution_ids: 1–20 execution ids (resolve refs first).
            route_id: Only writes of this route.
            stage: Only writes of this stage (exact).
            path: Only keys whose file name starts with this.
            extension: Only keys ending in one of these (`.json,.md` or a list).
            timeout: Stream lifetime in seconds (`None`: no limit).
            keep_open: Stay open after every watched execution stopped (until `timeout`).
            last_event_id: Resume after this event id (`Last-Event-ID`).

        Raises:
            ValueError: Not 1–20 distinct execution ids (on the first iteration).
            EventStreamerUnavailableError: The hub is shut down (on the first iteration).
        """
        ids = list(dict.fromkeys(execution_ids))
        if not 1 <= len(ids) <= MAX_STORAGE_STREAM_EXECUTIONS:
            raise ValueError(f"watch 1 to {MAX_STORAGE_STREAM_EXECUTIONS} executions, not {len(ids)}")
        filters = (route_id, stage, path, _normalise_extensions(extension))
        events = self._run(ids, filters, timeout, keep_open, last_event_id)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    @staticmethod
    def _matches(event: StreamEvent, filters: _Filters) -> bool:
        if event.event != "storage.object.created":
            return True
        route_id, stage, path, extensions = filters
        data = event.data
        key = str(data.get("key") or "")
        name = key.rsplit("/", 1)[-1]
        return (
            (route_id is None or data.get("route_id") == route_id)
            and (stage is None or data.get("stage") == stage)
            and (path is None or name.startswith(path))
            and (not extensions or key.endswith(extensions))
        )

    async def _run(
        self,
        ids: list[str],
        filters: _Filters,
        lifetime: float | None,
        keep_open: bool,
        last_event_id: str | None,
    ) -> AsyncGenerator[StreamEvent, None]:
        with self._hub.subscribe(ids, kinds=_STORAGE, max_queue=self._queue_size) as subscription:
            deadline = _Deadline(lifetime)
            state = _StorageStreamState(ids, newest=last_event_id or "")
            if last_event_id:
                for event in self._resume(state, last_event_id):
                    if self._matches(event, filters):
                        yield event
            try:
                for execution_id in ids:
                    execution = await self._reader.get(execution_id)
                    state.statuses[execution_id] = execution.status
                    if execution.is_stopped and execution_id not in state.finished:
                        state.finished.add(execution_id)
                        yield self._hub.make_event(execution_id, "execution.finished", {"status": execution.status})
            except Exception as exc:
                yield self._hub.make_event(ids[0], "error", _error_fields(exc))
                yield self._end(ids, "error", state.statuses)
                return
            while True:
                batch = self._live(subscription, state)
                if batch:
                    for event in batch:
                        if self._matches(event, filters):
                            yield event
                    continue  # drain what arrived while the client was reading, before any end
                if not keep_open and state.all_finished:
                    ends = [subscription.ended(execution_id) for execution_id in ids]
                    shutdown = any(end is not None and end.reason == "shutdown" for end in ends)
                    yield self._end(ids, "shutdown" if shutdown else "terminal", state.statuses)
                    return
                if subscription.shutdown_reason is not None:
                    yield self._end(ids, "shutdown", state.statuses)
                    return
                remaining = deadline.remaining()
                if remaining is not None and remaining <= 0:
                    yield self._end(ids, "timeout", state.statuses)
                    return
                await subscription.wait(remaining)

    def _resume(self, state: _StorageStreamState, last_event_id: str) -> list[StreamEvent]:
        """Buffered events of every watched execution newer than `last_event_id`, in id order."""
        replay = sorted(
            (
                event
                for execution_id in state.ids
                for event in self._hub.buffered(execution_id, kind="storage", after=last_event_id)
            ),
            key=lambda event: event.id,
        )
        if replay:
            state.newest = replay[-1].id
        for execution_id in state.ids:
            # A finish still buffered was either re-sent just now or seen before the reconnect.
            if any(e.event == "execution.finished" for e in self._hub.buffered(execution_id, kind="storage")):
                state.finished.add(execution_id)
        return replay

    def _live(self, subscription: HubSubscription, state: _StorageStreamState) -> list[StreamEvent]:
        """Queued live events to send, plus `execution.finished` for ends whose event was dropped."""
        out: list[StreamEvent] = []
        for event in subscription.drain():
            if event.id <= state.newest:
                continue  # already sent from the buffer
            if event.event == "execution.finished" and event.execution_id is not None:
                state.statuses[event.execution_id] = event.data.get("status")
                if event.execution_id in state.finished:
                    continue
                state.finished.add(event.execution_id)
            out.append(event)
        for execution_id in state.ids:
            end = subscription.ended(execution_id)
            if end is not None and execution_id not in state.finished:
                # Its execution.finished fell out of a full queue; announce it anyway.
                state.finished.add(execution_id)
                state.statuses[execution_id] = end.status
                out.append(self._hub.make_event(execution_id, "execution.finished", {"status": end.status}))
        return out

    def _end(self, ids: list[str], reason: EndReason, statuses: dict[str, str | None]) -> StreamEvent:
        data: JSONObject = {
            "reason": reason,
            "status": statuses.get(ids[0]) if len(ids) == 1 else None,
            "statuses": {execution_id: statuses.get(execution_id) for execution_id in ids},
            "execution_ids": list(ids),
        }
        return self._hub.make_event(ids[0] if len(ids) == 1 else None, "stream.end", data)
