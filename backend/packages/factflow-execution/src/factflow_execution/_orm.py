"""ORM models of `pipeline_configs`, `pipeline_executions` and `route_pause_state`.

Columns, types and indexes follow `.claude/database-schema.md` exactly; factflow-infra's
migrations create the tables and a test there compares them with `Base.metadata`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, UniqueConstraint, false, text, true
from sqlalchemy.orm import Mapped, mapped_column

from factflow_infra.database import Base, JSONType, OrderedJSONType, UTCDateTime
from factflow_protocols import ErrorInfoData, JSONObject

__all__ = ("PipelineConfigRow", "PipelineExecutionRow", "RoutePauseRow")


class PipelineConfigRow(Base):
    """One stored pipeline config; only the current YAML is kept."""

    __tablename__ = "pipeline_configs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """Config id (UUIDv7)."""
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    """Display name; not unique."""
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Free text."""
    config_yaml: Mapped[str] = mapped_column(Text, nullable=False)
    """The YAML exactly as stored."""
    config_hash: Mapped[str] = mapped_column(String(80), nullable=False)
    """`sha256:<hex>` of `config_yaml`."""
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    """Starts at 1; +1 whenever the YAML text changes."""
    source_type: Mapped[str] = mapped_column(String(16), nullable=False)
    """`file`, `api` or `imported`."""
    source_path: Mapped[str | None] = mapped_column(String(1024), nullable=True, index=True)
    """Shipped file path (upsert key for `file` configs)."""
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=true())
    """False after deactivation."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    """When the config was first stored."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    """Last change of any field."""


class PipelineExecutionRow(Base):
    """One execution; `config_snapshot` is frozen at insert."""

    __tablename__ = "pipeline_executions"
    __table_args__ = (
        UniqueConstraint("tag", name="uq_pipeline_executions_tag"),
        Index("ix_pipeline_executions_started_at_id", "started_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """Execution id (UUIDv7)."""
    config_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    """Config whose snapshot runs."""
    config_name: Mapped[str] = mapped_column(String(200), nullable=False)
    """Frozen at start."""
    config_version: Mapped[int] = mapped_column(Integer, nullable=False)
    """Frozen at start."""
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    """`running`, `completed`, `failed`, `cancelled` or `interrupted`."""
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    """`api`, `cli` or `replay`."""
    tag: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """Unique over all executions."""
    parent_execution_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    """Source execution of a replay."""
    replay_batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    """Batch id of a replay's messages."""
    replay_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """`storage` on replays."""
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    """When the row was inserted."""
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """Set with the final status."""
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    """`completed_at - started_at`."""
    error_info: Mapped[ErrorInfoData | None] = mapped_column(JSONType, nullable=True)
    """`{code, message, details}`."""
    config_snapshot: Mapped[JSONObject] = mapped_column(OrderedJSONType, nullable=False)
    """`{config_yaml, config, config_hash, config_version, config_name, captured_at, engine_version}`."""
    root_correlation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    """Init message id."""
    init_payload: Mapped[JSONObject | None] = mapped_column(JSONType, nullable=True)
    """Effective init payload, after overrides."""
    execution_metadata: Mapped[JSONObject] = mapped_column(
        "metadata", JSONType, nullable=False, default=dict, server_default=text("'{}'")
    )
    """Caller metadata (and `recovery` records)."""
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    """Set when a cancel is accepted."""
    message_counts: Mapped[dict[str, int] | None] = mapped_column(JSONType, nullable=True)
    """`{published, handled, in_flight, dead_lettered, tolerated_failures}`, frozen at the end."""
    replay: Mapped[JSONObject | None] = mapped_column(JSONType, nullable=True)
    """ReplayInfo of a replay execution."""
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """Last resume by start-up recovery."""
    recovery_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    """Resumes so far."""
    stats: Mapped[JSONObject | None] = mapped_column(JSONType, nullable=True)
    """ExecutionStats, frozen at the end."""
    queues_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the janitor purged the non-DLQ queues."""
    dlq_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the janitor purged the DLQs."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    """Last change of any field."""
    lineage_retention_days: Mapped[float | None] = mapped_column(Float, nullable=True)
    """The execution's own lineage retention in days; `None` follows `FACTFLOW_LINEAGE_RETENTION_DAYS`."""
    lineage_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When lineage retention deleted the execution's lineage rows."""
    route_counts: Mapped[JSONObject | None] = mapped_column(JSONType, nullable=True)
    """Per-route message counts (`RouteStatus` lineage part) by route id, frozen at the end."""


class RoutePauseRow(Base):
    """The global pause flag of one route name."""

    __tablename__ = "route_pause_state"

    route_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Route name; the flag applies to every execution with a route of that id."""
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False)
    """Whether processors with this route id stop reading."""
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When it was paused."""
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    """Why."""
