"""The event objects streams yield (docs/reference/http-api.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final, Literal

from factflow_foundation import new_id, rfc3339, utc_now
from factflow_protocols import JSONObject

__all__ = (
    "EXECUTION_EVENT_TYPES",
    "STORAGE_EVENT_TYPES",
    "EndReason",
    "EventKind",
    "EventStamper",
    "StreamEnd",
    "StreamEvent",
    "event_kind",
)

EventKind = Literal["execution", "storage"]
"""Which buffer and which streams an event belongs to."""

EndReason = Literal["terminal", "timeout", "shutdown", "error"]
"""Why a stream ended (`stream.end` `reason`)."""

STORAGE_EVENT_TYPES: Final[frozenset[str]] = frozenset({"storage.object.created", "execution.finished"})
"""Events of S4/E14 streams; everything else belongs to E7 streams."""

EXECUTION_EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {
        "execution.snapshot",
        "execution.status",
        "execution.progress",
        "route.state",
        "stage.pending",
        "stage.processing",
        "stage.completed",
        "stage.failed",
        "stage.skipped",
        "stage.cancelled",
        "message.dead_lettered",
        "replay.progress",
    }
)
"""Events of E7 streams (docs/reference/http-api.md)."""


def event_kind(event_type: str) -> EventKind:
    """`storage` for storage-stream events, `execution` for everything else."""
    return "storage" if event_type in STORAGE_EVENT_TYPES else "execution"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One Server-Sent Event: `id` (UUIDv7, for `Last-Event-ID`), `event` name and `data` object.

    `data` always carries `type` (= `event`), `timestamp` and `execution_id`.
    """

    id: str
    event: str
    data: JSONObject

    @property
    def event_id(self) -> str:
        """Alias of `id` (the name the SSE layer uses)."""
        return self.id

    @property
    def execution_id(self) -> str | None:
        """The execution the event is about."""
        value = self.data.get("execution_id")
        return value if isinstance(value, str) else None

    def to_sse(self) -> str:
        """The event framed as `text/event-stream` (single-line JSON data, blank line after)."""
        payload = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False, default=str)
        return f"id: {self.id}\nevent: {self.event}\ndata: {payload}\n\n"


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The hub's signal that an execution's streams must end."""

    reason: EndReason
    status: str | None
    """The execution's status when the signal was given."""


class EventStamper:
    """Gives events their id and standard fields: what a process needs to publish events, without a hub.

    Ids are UUIDv7s, strictly increasing within the stamper (they order a stream's events).
    Call it from one thread.
    """

    def __init__(self) -> None:
        self._last_event_id = ""

    def observe(self, event_id: str) -> None:
        """Later ids sort after `event_id` (an event another process stamped, delivered here)."""
        self._last_event_id = max(self._last_event_id, event_id)

    def new_event_id(self) -> str:
        """A fresh UUIDv7, greater than every id handed out or observed before."""
        event_id = new_id()
        while event_id <= self._last_event_id:
            event_id = new_id()
        self._last_event_id = event_id
        return event_id

    def make_event(self, execution_id: str | None, event_type: str, data: JSONObject) -> StreamEvent:
        """An event with the standard fields (`type`, `timestamp`, `execution_id`) and a new id."""
        body: JSONObject = {"type": event_type, "timestamp": rfc3339(utc_now()), "execution_id": execution_id}
        body.update({key: value for key, value in data.items() if key not in body})
        return StreamEvent(id=self.new_event_id(), event=event_type, data=body)
