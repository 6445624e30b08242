"""The `pipeline_lineage` table as an ORM model, and the conversions to and from it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from factflow_foundation import rfc3339_or_none
from factflow_infra.database import Base, JSONType, UTCDateTime
from factflow_protocols import LineageRecord

__all__ = ("PipelineLineageEntry", "record_values")


_NULLABLE_JSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
"""`JSONType` storing `None` as SQL NULL rather than JSON `null` (so `error_info IS NULL` holds)."""


class PipelineLineageEntry(Base):
    """One row per message per adapter invocation (docs/reference/http-api-endpoints.md `LineageEntry`).

    Retries within a delivery update the same row; a redelivery that invokes the adapter again
    adds a new one. Columns and indexes follow `.claude/database-schema.md` exactly.
    """

    __tablename__ = "pipeline_lineage"
    __table_args__ = (
        Index("ix_pipeline_lineage_execution_id_started_at", "execution_id", "started_at"),
        Index("ix_pipeline_lineage_execution_id_stage_status", "execution_id", "stage_status"),
        Index("ix_pipeline_lineage_started_at_id", "started_at", "id"),
        Index("ix_pipeline_lineage_stage_status_completed_at_id", "stage_status", "completed_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """Row id (UUIDv7)."""
    correlation_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    """Message id."""
    parent_correlation_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    """The message this one came from; `None` for roots. Replayed messages point into the parent execution."""
    execution_id: Mapped[str] = mapped_column(String(36), nullable=False)
    """Owning execution."""
    route_id: Mapped[str] = mapped_column(String(64), nullable=False)
    """Route the invocation ran in."""
    adapter_name: Mapped[str] = mapped_column(String(64), nullable=False)
    """Adapter `type`."""
    adapter_index: Mapped[int] = mapped_column(Integer, nullable=False)
    """0-based position of the adapter in its route."""
    stage_name: Mapped[str] = mapped_column(String(128), nullable=False)
    """Adapter `type` or its `stage:` override."""
    stage_status: Mapped[str] = mapped_column(String(16), nullable=False)
    """A `StageStatus` value."""
    input_hash: Mapped[str | None] = mapped_column(String(80), nullable=True)
    """`sha256:<hex>` of the input payload."""
    output_hash: Mapped[str | None] = mapped_column(String(80), nullable=True)
    """`sha256:<hex>` of the output (fan-out: of the child hashes; skipped: the input hash)."""
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    """When the invocation (or the skip) began."""
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the row reached a final status."""
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Active time, without retry and breaker waits."""
    error_info: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, nullable=True)
    """`{error_type, message, traceback, attempts, retryable}` of the last failure."""
    replay_batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    """Replay batch the message belongs to."""
    batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    """Adapter processing batch (`AdapterResult.batch_id`)."""
    delivery_count: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default=text("1"))
    """1 = first delivery."""
    storage_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    """Stored stage output, or the fan-out manifest."""
    entry_metadata: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONType, nullable=False, default=dict, server_default=text("'{}'")
    )
    """Provenance: `attempts`, `result`, `emitted_count`, `trace_id`, input `url`/`title`/…."""

    def to_api_dict(self) -> dict[str, Any]:
        """The HTTP API `LineageEntry` object (times RFC 3339 UTC with microseconds and `Z`)."""
        return {
            "id": self.id,
            "correlation_id": self.correlation_id,
            "parent_correlation_id": self.parent_correlation_id,
            "execution_id": self.execution_id,
            "route_id": self.route_id,
            "adapter_name": self.adapter_name,
            "adapter_index": self.adapter_index,
            "stage_name": self.stage_name,
            "stage_status": self.stage_status,
            "input_hash": self.input_hash,
            "output_hash": self.output_hash,
            "started_at": rfc3339_or_none(self.started_at),
            "completed_at": rfc3339_or_none(self.completed_at),
            "duration_ms": self.duration_ms,
            "error_info": self.error_info,
            "replay_batch_id": self.replay_batch_id,
            "batch_id": self.batch_id,
            "delivery_count": self.delivery_count,
            "storage_key": self.storage_key,
            "metadata": dict(self.entry_metadata or {}),
        }

    def __repr__(self) -> str:
        return (
            f"PipelineLineageEntry(id={self.id!r}, correlation_id={self.correlation_id!r}, "
            f"route_id={self.route_id!r}, adapter_index={self.adapter_index!r}, stage_status={self.stage_status!r})"
        )


def record_values(record: LineageRecord) -> dict[str, Any]:
    """Column values (keyed by column name) of `record`, for a Core upsert."""
    return {
        "id": record.id,
        "correlation_id": record.correlation_id,
        "parent_correlation_id": record.parent_correlation_id,
        "execution_id": record.execution_id,
        "route_id": record.route_id,
        "adapter_name": record.adapter_name,
        "adapter_index": record.adapter_index,
        "stage_name": record.stage_name,
        "stage_status": str(record.stage_status),
        "input_hash": record.input_hash,
        "output_hash": record.output_hash,
        "started_at": record.started_at,
        "completed_at": record.completed_at,
        "duration_ms": record.duration_ms,
        "error_info": record.error_info,
        "replay_batch_id": record.replay_batch_id,
        "batch_id": record.batch_id,
        "delivery_count": record.delivery_count,
        "storage_key": record.storage_key,
        "metadata": record.metadata,
    }
