"""The events a running execution reports: a closed set of frozen dataclasses.

Producers (the runtime, lineage, storage, replay and the execution service) build these; the
event hub turns them into Server-Sent Events, whose `data` object is `data()` plus `type`,
`timestamp` and `execution_id` (docs/reference/http-api.md#server-sent-events). `data()`
keeps the documented field order, which is the order of the JSON the streams send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._execution_error import ErrorInfo
from ._json import JSONObject

__all__ = (
    "EngineEvent",
    "ExecutionProgress",
    "ExecutionStatusChanged",
    "MessageDeadLettered",
    "ReplayProgress",
    "RouteStateChanged",
    "StageChanged",
    "StorageObjectCreated",
)


@dataclass(frozen=True, slots=True)
class ExecutionStatusChanged:
    """`execution.status`: the status changed (`cancelling` when a cancel is accepted)."""

    event_type: ClassVar[str] = "execution.status"

    status: str
    previous_status: str | None
    error_info: ErrorInfo | None = None

    def data(self) -> JSONObject:
        return {
            "status": self.status,
            "previous_status": self.previous_status,
            "error_info": self.error_info.as_dict() if self.error_info is not None else None,
        }


@dataclass(frozen=True, slots=True)
class ExecutionProgress:
    """`execution.progress`: the counters changed (the hub sends at most one every 500 ms)."""

    event_type: ClassVar[str] = "execution.progress"

    published: int
    handled: int
    in_flight: int
    dead_lettered: int
    completed_stages: int
    failed_stages: int

    def data(self) -> JSONObject:
        return {
            "published": self.published,
            "handled": self.handled,
            "in_flight": self.in_flight,
            "dead_lettered": self.dead_lettered,
            "completed_stages": self.completed_stages,
            "failed_stages": self.failed_stages,
        }


@dataclass(frozen=True, slots=True)
class RouteStateChanged:
    """`route.state`: a route processor's state or its pause flag changed."""

    event_type: ClassVar[str] = "route.state"

    route_id: str
    processor_state: str
    paused: bool

    def data(self) -> JSONObject:
        return {"route_id": self.route_id, "processor_state": self.processor_state, "paused": self.paused}


@dataclass(frozen=True, slots=True)
class StageChanged:
    """`stage.<status>`: a lineage row changed; `error_info` is the row's (`error_type`, `message`, ...)."""

    entry_id: str
    correlation_id: str
    parent_correlation_id: str | None
    route_id: str
    adapter_name: str
    adapter_index: int
    stage_name: str
    stage_status: str
    """`pending`, `processing`, `completed`, `failed`, `skipped` or `cancelled`."""
    duration_ms: float | None
    delivery_count: int
    storage_key: str | None
    error_info: JSONObject | None

    @property
    def event_type(self) -> str:
        return f"stage.{self.stage_status}"

    def data(self) -> JSONObject:
        return {
            "entry_id": self.entry_id,
            "correlation_id": self.correlation_id,
            "parent_correlation_id": self.parent_correlation_id,
            "route_id": self.route_id,
            "adapter_name": self.adapter_name,
            "adapter_index": self.adapter_index,
            "stage_name": self.stage_name,
            "stage_status": self.stage_status,
            "duration_ms": self.duration_ms,
            "delivery_count": self.delivery_count,
            "storage_key": self.storage_key,
            "error_info": self.error_info,
        }


@dataclass(frozen=True, slots=True)
class MessageDeadLettered:
    """`message.dead_lettered`: a message went to its route's dead-letter queue."""

    event_type: ClassVar[str] = "message.dead_lettered"

    correlation_id: str
    route_id: str
    adapter_name: str | None
    """`None` when the delivery was refused before any adapter ran."""
    dead_letter_queue: str
    error_info: JSONObject | None
    """The failure as lineage records it (`error_type`, `message`, `traceback`, `attempts`, `retryable`)."""

    def data(self) -> JSONObject:
        return {
            "correlation_id": self.correlation_id,
            "route_id": self.route_id,
            "adapter_name": self.adapter_name,
            "dead_letter_queue": self.dead_letter_queue,
            "error_info": self.error_info,
        }


@dataclass(frozen=True, slots=True)
class StorageObjectCreated:
    """`storage.object.created`: a stage output was written (again, when a redelivery rewrites it)."""

    event_type: ClassVar[str] = "storage.object.created"

    key: str
    route_id: str
    stage: str
    adapter_name: str
    correlation_id: str
    content_type: str
    size: int
    created_at: str
    """RFC 3339, as in the object's sidecar."""

    def data(self) -> JSONObject:
        return {
            "key": self.key,
            "route_id": self.route_id,
            "stage": self.stage,
            "adapter_name": self.adapter_name,
            "correlation_id": self.correlation_id,
            "content_type": self.content_type,
            "size": self.size,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    """`replay.progress`: a replay's publisher advanced (at most twice a second) or finished."""

    event_type: ClassVar[str] = "replay.progress"

    objects_found: int
    objects_published: int
    objects_failed: int
    publish_status: str

    def data(self) -> JSONObject:
        return {
            "objects_found": self.objects_found,
            "objects_published": self.objects_published,
            "objects_failed": self.objects_failed,
            "publish_status": self.publish_status,
        }


EngineEvent = (
    ExecutionStatusChanged
    | ExecutionProgress
    | RouteStateChanged
    | StageChanged
    | MessageDeadLettered
    | StorageObjectCreated
    | ReplayProgress
)
"""Every event an execution reports; the hub adds `execution.finished`, `execution.snapshot`,
`error` and `stream.end` itself."""
