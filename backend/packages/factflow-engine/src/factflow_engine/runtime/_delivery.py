"""Branches and deliveries as the chain runner tracks them, and small payload helpers."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import msgpack

from factflow_protocols import RESERVED_METADATA_KEYS, JSONObject, QueueMessage

from ._slot import AdapterSlot
from ._tasks import SiblingTasks

__all__ = (
    "BadOutput",
    "Branch",
    "DeadLetterReason",
    "Delivery",
    "Invocation",
    "NotHeld",
    "Outcome",
    "RouteExecutionCounts",
    "Stopped",
    "carried_metadata",
    "fresh_copy",
    "row_metadata",
    "row_value",
)

DeadLetterReason = Literal[
    "retries_exhausted",
    "non_retryable",
    "output_not_serializable",
    "output_too_large",
    "max_deliveries_exceeded",
    "max_hops_exceeded",
]


class Stopped(Exception):
    """The execution is cancelling or stopping: the branch ends and the delivery stays unacked."""


class NotHeld(Stopped):
    """The queue no longer holds the delivery for this process: another consumer took it after its lease lapsed.

    The branch ends before its adapter runs (a `Stopped`: the delivery is not acked) and the
    delivery is left to its new owner.
    """


class BadOutput(Exception):
    """An adapter result that cannot go on: not serialisable or too large."""

    def __init__(self, reason: DeadLetterReason, message: str) -> None:
        super().__init__(message)
        self.reason: DeadLetterReason = reason


@dataclass(slots=True)
class RouteExecutionCounts:
    """Counters of one route within one execution (`RouteMetrics.executions`)."""

    received: int = 0
    completed: int = 0
    failed: int = 0


@dataclass(slots=True)
class Branch:
    """One message id moving through adapters `start_index … n−1`."""

    message_id: str
    parent_id: str | None
    payload: JSONObject
    start_index: int
    metadata: JSONObject
    """Non-reserved envelope metadata the branch carries to its outputs."""
    resume: bool = False
    holds_unit: bool = False
    """Whether the branch holds a fan-out budget unit (child branches do)."""
    active_ms: float = 0.0
    invoked: bool = False


@dataclass(slots=True)
class Delivery:
    """State shared by the branches of one delivery."""

    message: QueueMessage
    delivery_count: int
    hop_count: int
    trace_id: str | None
    replay_batch_id: str | None
    recovered: bool
    original_object_key: str | None
    branches: SiblingTasks = field(default_factory=SiblingTasks)
    """Child branches of the delivery (the root branch runs in the handler itself)."""
    stopped: bool = False
    dead_lettered: int = 0
    rows: dict[str, list[Any] | None] = field(default_factory=dict)


@dataclass(slots=True)
class Invocation:
    """One adapter meeting one branch's payload: what every step of a call needs, in one object."""

    route_id: str
    delivery: Delivery
    branch: Branch
    slot: AdapterSlot
    payload: JSONObject
    input_hash: str | None = None
    """The payload's content hash when an earlier stage of this walk computed it already."""


@dataclass(slots=True)
class Outcome:
    """What a successful stage hands on: the continuing message, the children and the metadata."""

    message: JSONObject | None
    children: list[tuple[str, JSONObject]]
    metadata: JSONObject
    message_hash: str | None = None
    """The continuing message's content hash, when lineage computed it (the next stage's input hash)."""


def carried_metadata(metadata: JSONObject) -> JSONObject:
    return {key: value for key, value in metadata.items() if key not in RESERVED_METADATA_KEYS}


def fresh_copy(payload: JSONObject) -> JSONObject:
    """A private copy of a JSON payload for one invocation (msgpack round trip: fast and deep)."""
    try:
        copied = msgpack.unpackb(msgpack.packb(payload, use_bin_type=True), raw=False)
    except Exception:  # values msgpack cannot carry (huge ints); deepcopy handles them
        return copy.deepcopy(payload)
    return copied if isinstance(copied, dict) else copy.deepcopy(payload)


def row_value(row: Any, name: str) -> Any:
    if isinstance(row, dict):
        return row.get(name)
    return getattr(row, name, None)


def row_metadata(row: Any) -> JSONObject:
    value = row_value(row, "metadata")
    if not isinstance(value, dict):
        value = row_value(row, "entry_metadata")
    return value if isinstance(value, dict) else {}
