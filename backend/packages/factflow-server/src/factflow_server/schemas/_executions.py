"""Execution schemas (docs/reference/http-api.md)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from factflow_execution.views import (
    AdapterStats,
    ConcurrencyInfo,
    DAGAdapter,
    DAGEdge,
    DAGNode,
    DAGOutbound,
    DAGResponse,
    ExecutionStats,
    MessageCounts,
    RouteStatus,
    StageCounts,
    WaitResult,
)
from factflow_protocols import JSONObject

from ._common import Tag, Timestamp
from ._lineage import LineageEntry

__all__ = (
    "AdapterStats",
    "CancelRequest",
    "ConcurrencyInfo",
    "DAGAdapter",
    "DAGEdge",
    "DAGNode",
    "DAGOutbound",
    "DAGResponse",
    "ErrorInfo",
    "ExecutionCreateRequest",
    "ExecutionDetailResponse",
    "ExecutionLineageResponse",
    "ExecutionListResponse",
    "ExecutionReplayResponse",
    "ExecutionResponse",
    "ExecutionRoutesResponse",
    "ExecutionStats",
    "MessageCounts",
    "ReplayInfo",
    "ReplayRequest",
    "CrossPipelineReplayRequest",
    "RouteStatus",
    "StageCounts",
    "StatusChangeRequest",
    "StatusChangeResponse",
    "WaitRequest",
    "WaitResult",
)

ExecutionStatus = Literal["running", "completed", "failed", "cancelled", "interrupted"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplayInfo(BaseModel):
    """What a replay execution replays and how far publishing got."""

    from_execution_id: str
    from_route: str
    from_stage: str
    from_path: str | None = None
    mode: Literal["same_pipeline", "cross_pipeline"]
    to_route: str
    to_queue: str | None = None
    start_at_adapter: int
    target_config_id: str | None = None
    replay_batch_id: str
    objects_found: int
    objects_published: int
    objects_failed: int
    publish_status: Literal["publishing", "completed", "failed"]


class ExecutionResponse(BaseModel):
    """One execution."""

    id: str
    """UUIDv7."""
    execution_id: str
    """Always equal to `id`."""
    config_id: str
    config_name: str
    config_version: int
    status: ExecutionStatus
    source: Literal["api", "cli", "replay"]
    tag: str | None
    parent_execution_id: str | None
    replay_batch_id: str | None
    replay_source: Literal["storage"] | None
    started_at: Timestamp
    completed_at: Timestamp | None
    duration_ms: float | None
    error_info: JSONObject | None
    """`{code, message, details}`."""


class ExecutionReplayResponse(ExecutionResponse):
    """E12/R1 answer: the new execution plus its `replay` info."""

    replay: ReplayInfo | None


class ExecutionDetailResponse(ExecutionResponse):
    """E3 answer."""

    config_snapshot: JSONObject
    """`{config_yaml, config, config_hash, config_version, config_name, captured_at, engine_version}`."""
    root_correlation_id: str | None
    init_payload: JSONObject | None
    metadata: JSONObject
    cancel_requested: bool
    message_counts: MessageCounts
    routes: list[RouteStatus]
    replay: ReplayInfo | None
    recovered_at: Timestamp | None
    recovery_count: int
    lineage_retention_days: float | None = None
    """This execution's own lineage retention in days (given when it was started); null: the server's
    `FACTFLOW_LINEAGE_RETENTION_DAYS` applies."""


class ExecutionListResponse(BaseModel):
    """E2/E13 page."""

    total: int
    limit: int
    offset: int
    has_more: bool
    executions: list[ExecutionResponse]
    next_cursor: str | None = None
    """Opaque token for the page after this one (pass it as `cursor`); null on the last page."""


class ExecutionCreateRequest(_Request):
    """E1 body."""

    config_id: uuid.UUID
    """Config to run (404 when unknown, 422 when not a UUID)."""
    tag: Tag | None = None
    """Unique label; must not parse as a UUID."""
    metadata: JSONObject | None = None
    """Stored on the row; ≤ 64 KiB serialized."""
    init_payload_overrides: JSONObject | None = None
    """Deep-merged into `init_message.payload`."""
    skip_init_message: bool = False
    """Start all routes without publishing the init message."""
    lineage_retention_days: float | None = Field(default=None, gt=0, le=36500)
    """Keep this execution's lineage rows this many days after it finished (null: the server setting)."""


class StatusChangeRequest(_Request):
    """E4 body."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "cancelled", "reason": "No longer needed."}]})

    status: Literal["cancelled", "failed", "completed"]
    reason: str | None = Field(default=None, max_length=500)
    error_info: JSONObject | None = None


class CancelRequest(_Request):
    """E5 body (optional)."""

    reason: str | None = Field(default=None, max_length=500)


class StatusChangeResponse(BaseModel):
    """E4/E5 answer."""

    success: bool
    execution_id: str
    previous_status: ExecutionStatus
    current_status: Literal["running", "completed", "failed", "cancelled", "interrupted", "cancelling"]
    message: str


class WaitRequest(_Request):
    """E6 body (optional)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"timeout": 5}]})

    timeout: float = Field(default=300, ge=1, le=3600)
    """Seconds to wait at most."""


class ExecutionRoutesResponse(BaseModel):
    """E10 answer."""

    execution_id: str
    routes: list[RouteStatus]


class ExecutionLineageResponse(BaseModel):
    """E11 page."""

    execution_id: str
    total: int
    limit: int
    offset: int
    has_more: bool
    entries: list[LineageEntry]
    next_cursor: str | None = None
    """Opaque token for the page after this one (pass it as `cursor`); null on the last page."""


class ReplayRequest(_Request):
    """E12 body."""

    from_stage: str = Field(min_length=1, max_length=128)
    """Stage whose stored outputs are replayed."""
    from_route: str | None = None
    to_route: str | None = None
    """Present → cross-pipeline mode."""
    config_id: str | None = None
    from_path: str | None = Field(default=None, min_length=1, pattern=r"^[^/]*$")
    """File-name prefix (no `/`)."""
    tag: Tag | None = None
    metadata: JSONObject | None = None
    replay_source: Literal["storage"] | None = None


class CrossPipelineReplayRequest(_Request):
    """Body of `replay_stored_objects`: `replay_execution` in cross-pipeline mode, with the source in the body."""

    from_execution_id: str
    from_stage: str = Field(min_length=1, max_length=128)
    to_route: str
    from_route: str | None = None
    from_path: str | None = Field(default=None, min_length=1, pattern=r"^[^/]*$")
    config_id: str | None = None
    tag: Tag | None = None
    metadata: JSONObject | None = None
    replay_source: Literal["storage"] | None = None


ErrorInfo = JSONObject
