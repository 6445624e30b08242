"""Lineage rows as the engine reports them, and the sinks that take them.

The row-state machine is `LineageService` (`_lineage_service.py`); `factflow_lineage.LineageRecorder`
is the sink that writes rows to the `pipeline_lineage` table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._json import JSONObject

if TYPE_CHECKING:
    from ._engine_events import StageChanged

__all__ = ("LineageEventSink", "LineageRecord", "LineageSink", "StageInvocation", "StageStatus")


class StageStatus(StrEnum):
    """Status of one (message, adapter) invocation."""

    PENDING = "pending"
    """Waiting for a retry or the breaker."""
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    """Dead-lettered."""
    SKIPPED = "skipped"
    """The adapter's condition was false."""
    CANCELLED = "cancelled"
    """Cancelled, or stopped at shutdown."""


@dataclass(slots=True)
class LineageRecord:
    """The complete current state of one `pipeline_lineage` row (docs/reference/http-api-endpoints.md `LineageEntry`).

    The engine hands the recorder a full record at every transition; the recorder keeps only
    the newest state per `id` and upserts it, so replaying a batch is harmless.
    """

    id: str
    correlation_id: str
    parent_correlation_id: str | None
    execution_id: str
    route_id: str
    adapter_name: str
    adapter_index: int
    stage_name: str
    stage_status: StageStatus
    started_at: datetime
    completed_at: datetime | None = None
    duration_ms: float | None = None
    input_hash: str | None = None
    output_hash: str | None = None
    error_info: JSONObject | None = None
    replay_batch_id: str | None = None
    batch_id: str | None = None
    delivery_count: int = 1
    storage_key: str | None = None
    metadata: JSONObject = field(default_factory=dict)


@runtime_checkable
class LineageSink(Protocol):
    """Takes row states; `factflow_lineage.LineageRecorder` is the real one. Must never block or raise."""

    def record(self, entry: LineageRecord) -> None: ...


@runtime_checkable
class LineageEventSink(Protocol):
    """Receives `stage.<status>` events; the engine's `EngineEventSink` matches this shape."""

    def emit(self, execution_id: str, event: StageChanged) -> None: ...


@dataclass(frozen=True, slots=True)
class StageInvocation:
    """Which message meets which adapter: everything a row needs besides its status and payloads."""

    execution_id: str
    route_id: str
    stage_name: str
    adapter_name: str
    """Adapter `type`."""
    adapter_index: int
    correlation_id: str
    parent_correlation_id: str | None = None
    delivery_count: int = 1
    replay_batch_id: str | None = None
    trace_id: str | None = None
    """Envelope `trace_id`."""
    recovered: bool = False
    """Envelope `recovered` (re-injected at recovery)."""
