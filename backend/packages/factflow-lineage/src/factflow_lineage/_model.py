"""The `pipeline_lineage` and `pipeline_lineage_stages` tables, and the lineage row as the API shows it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from factflow_foundation import rfc3339_or_none
from factflow_infra.database import Base, UTCDateTime
from factflow_protocols import JSONObject

__all__ = (
    "LINEAGE_BUCKET_SECONDS",
    "LineageBucketRow",
    "LineageMessageRow",
    "LineageRouteRow",
    "LineageRow",
    "LineageStageRow",
    "PipelineLineageEntry",
)


_NULLABLE_JSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
"""`JSONType` storing `None` as SQL NULL rather than JSON `null` (so `error_info IS NULL` holds)."""

_FAILED = 3
"""`stage_status` code of `failed` (see `_codec.STATUS_CODES`), for the partial index."""


class LineageStageRow(Base):
    """One execution × route × adapter × stage, with the counters of its lineage rows.

    The counters are kept exact by database triggers on `pipeline_lineage` (revision 0005):
    every insert, update and delete of a row adjusts them, whoever writes.
    """

    __tablename__ = "pipeline_lineage_stages"
    __table_args__ = (
        UniqueConstraint(
            "execution_id",
            "route_id",
            "adapter_index",
            "adapter_name",
            "stage_name",
            name="uq_pipeline_lineage_stages_stage",
        ),
    )

    stage_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(36), nullable=False)
    route_id: Mapped[str] = mapped_column(String(64), nullable=False)
    adapter_name: Mapped[str] = mapped_column(String(64), nullable=False)
    adapter_index: Mapped[int] = mapped_column(Integer, nullable=False)
    stage_name: Mapped[str] = mapped_column(String(128), nullable=False)
    row_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    pending_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    processing_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    completed_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    failed_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    skipped_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    cancelled_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    duration_total_ms: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("0"))
    """Sum of `duration_ms` of completed rows (those with one)."""
    duration_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    """Completed rows with a `duration_ms`."""
    duration_max_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Longest completed duration ever written (not lowered when a row leaves `completed`)."""
    first_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


LINEAGE_BUCKET_SECONDS = 10
"""Width of the `started_at` spans `pipeline_lineage_buckets` counts rows in (revision 0006)."""


class LineageBucketRow(Base):
    """Rows of one stage whose `started_at` falls in one span of `LINEAGE_BUCKET_SECONDS` seconds.

    `bucket` is the span's start in Unix seconds divided by the width. Kept exact by database
    triggers on `pipeline_lineage` (revision 0006), as the stage counters are; a span without rows
    has no row. Deep pages by `started_at` sum these to find where they start.
    """

    __tablename__ = "pipeline_lineage_buckets"

    stage_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    row_count: Mapped[int] = mapped_column(Integer, nullable=False)


class LineageRouteRow(Base):
    """One execution × route, with how many messages it has in each `RouteStatus` class.

    A message of the route (a correlation id with rows there) is failed if one of its rows is,
    else in progress if one is pending or processing, else cancelled if one is, else completed.
    Kept exact by database triggers on `pipeline_lineage` (revision 0007) through every write,
    with the per-message counts of `LineageMessageRow`; made with the route's first stage row.
    Once `sealed` (revision 0008) the triggers leave the route alone.
    """

    __tablename__ = "pipeline_lineage_routes"
    __table_args__ = (UniqueConstraint("execution_id", "route_id", name="uq_pipeline_lineage_routes_route"),)

    route_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(36), nullable=False)
    route_id: Mapped[str] = mapped_column(String(64), nullable=False)
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    """Messages with at least one row in the route."""
    failed_messages: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    in_progress_messages: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    cancelled_messages: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    sealed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    """The execution ended and its counts are frozen: writes no longer move them, its message rows may go."""


class LineageMessageRow(Base):
    """One message of one route (`LineageRouteRow`): how many of its rows there are, by class of status.

    Kept by the triggers of revision 0007 while the route is not sealed; a message whose rows were
    all deleted keeps a row of zeros until its execution's lineage is deleted. The rows of a sealed
    route are no longer needed and are deleted in the background (`compact_sealed_messages`).
    """

    __tablename__ = "pipeline_lineage_messages"

    route_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    correlation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    row_count: Mapped[int] = mapped_column(Integer, nullable=False)
    failed_count: Mapped[int] = mapped_column(Integer, nullable=False)
    active_count: Mapped[int] = mapped_column(Integer, nullable=False)
    """Rows pending or processing."""
    cancelled_count: Mapped[int] = mapped_column(Integer, nullable=False)


class LineageRow(Base):
    """One stored lineage row in the compact layout (revision 0005; `.claude/database-schema.md`).

    Read it as a `PipelineLineageEntry` (`_codec.entry_from`); write it from a `LineageRecord`
    (`_codec.row_values`). Columns are ordered for alignment (8-byte values first), so a typical row fits in 184 bytes.
    """

    __tablename__ = "pipeline_lineage"
    __table_args__ = (
        Index("ix_pipeline_lineage_correlation_id", "correlation_id"),
        Index("ix_pipeline_lineage_parent_correlation_id", "parent_correlation_id"),
        Index("ix_pipeline_lineage_started_at_stage_key", "started_at", "stage_key"),
        Index(
            "ix_pipeline_lineage_replay_batch_id",
            "replay_batch_id",
            postgresql_where=text("replay_batch_id IS NOT NULL"),
            sqlite_where=text("replay_batch_id IS NOT NULL"),
        ),
        Index(
            "ix_pipeline_lineage_batch_id",
            "batch_id",
            postgresql_where=text("batch_id IS NOT NULL"),
            sqlite_where=text("batch_id IS NOT NULL"),
        ),
    )

    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    stage_key: Mapped[int] = mapped_column(Integer, nullable=False)
    delivery_count: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("1"))
    emitted_count: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    """`metadata.emitted_count` when it is an integer from 0 to 9,999 (else it stays in `metadata`)."""
    stage_status: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    outcome: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("0"))
    """Low two bits: where the storage key comes from; the bits above: the `metadata.result` code."""
    attempts: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    """`metadata.attempts` when it is an integer from 0 to 9,999 (else it stays in `metadata`)."""
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    correlation_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    parent_correlation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    replay_batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    input_hash: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    output_hash: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    id_text: Mapped[str | None] = mapped_column(String(36), nullable=True)
    correlation_id_text: Mapped[str | None] = mapped_column(String(36), nullable=True)
    parent_correlation_id_text: Mapped[str | None] = mapped_column(String(36), nullable=True)
    replay_batch_id_text: Mapped[str | None] = mapped_column(String(36), nullable=True)
    batch_id_text: Mapped[str | None] = mapped_column(String(36), nullable=True)
    input_hash_text: Mapped[str | None] = mapped_column(String(80), nullable=True)
    output_hash_text: Mapped[str | None] = mapped_column(String(80), nullable=True)
    storage_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    error_info: Mapped[JSONObject | None] = mapped_column(_NULLABLE_JSON, nullable=True)
    row_metadata: Mapped[JSONObject | None] = mapped_column("metadata", _NULLABLE_JSON, nullable=True)


# In the failures list's order (newest first, NULLs last), so its first page reads only its own
# rows. Declared for PostgreSQL; on SQLite the migration writes `completed_at DESC` (NULLs sort last
# there already, and SQLite has no NULLS LAST in an index).
Index(
    "ix_pipeline_lineage_failed",
    LineageRow.completed_at.desc().nulls_last(),
    LineageRow.id.desc(),
    postgresql_where=text(f"stage_status = {_FAILED}"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineLineageEntry:
    """One lineage row as the HTTP API shows it (docs/reference/http-api-endpoints.md `LineageEntry`).

    One row per message per adapter invocation. Retries within a delivery update the same row; a
    redelivery that invokes the adapter again adds a new one. Built from the stored compact row
    and its stage (`_codec.entry_from`): derived fields such as the storage key are computed here.
    """

    id: str
    """Row id (UUIDv7)."""
    correlation_id: str
    """Message id."""
    parent_correlation_id: str | None = None
    """The message this one came from; `None` for roots. Replayed messages point into the parent execution."""
    execution_id: str
    route_id: str
    adapter_name: str
    adapter_index: int
    stage_name: str
    stage_status: str
    """A `StageStatus` value."""
    input_hash: str | None = None
    output_hash: str | None = None
    started_at: datetime
    completed_at: datetime | None = None
    duration_ms: float | None = None
    error_info: JSONObject | None = None
    replay_batch_id: str | None = None
    batch_id: str | None = None
    delivery_count: int = 1
    storage_key: str | None = None
    entry_metadata: JSONObject = field(default_factory=dict)
    """Provenance: `attempts`, `result`, `emitted_count`, `trace_id`, input `url`/`title`/…."""

    def to_api_dict(self) -> JSONObject:
        """The HTTP API `LineageEntry` object (times RFC 3339 UTC with microseconds and `Z`)."""
        fields = self.api_fields()
        fields["started_at"] = rfc3339_or_none(self.started_at)
        fields["completed_at"] = rfc3339_or_none(self.completed_at)
        return fields

    def api_fields(self) -> JSONObject:
        """`to_api_dict` with `started_at` and `completed_at` still datetimes (for a schema that formats them)."""
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
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "duration_ms": self.duration_ms,
            "error_info": self.error_info,
            "replay_batch_id": self.replay_batch_id,
            "batch_id": self.batch_id,
            "delivery_count": self.delivery_count,
            "storage_key": self.storage_key,
            "metadata": dict(self.entry_metadata),
        }
