"""The state of one lineage row as the engine reports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ("LineageRecord", "StageStatus")


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
    error_info: dict[str, Any] | None = None
    replay_batch_id: str | None = None
    batch_id: str | None = None
    delivery_count: int = 1
    storage_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
