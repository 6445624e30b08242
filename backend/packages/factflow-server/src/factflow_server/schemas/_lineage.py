"""Lineage schemas (docs/reference/http-api-endpoints.md LineageEntry/LineageMessage, §5.6)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from factflow_execution.views import AdapterStats
from factflow_lineage import PipelineLineageEntry
from factflow_protocols import JSONObject

from ._common import Timestamp

__all__ = (
    "AdapterStats",
    "LineageBatchResponse",
    "LineageChainResponse",
    "LineageChildrenResponse",
    "LineageEntry",
    "LineageListResponse",
    "LineageMessage",
    "LineageMessageResponse",
    "LineageStatsResponse",
    "StageStatus",
)

StageStatus = Literal["pending", "processing", "completed", "failed", "skipped", "cancelled"]


class LineageEntry(BaseModel):
    """One row per message per adapter invocation."""

    id: str
    correlation_id: str
    parent_correlation_id: str | None
    execution_id: str
    route_id: str
    adapter_name: str
    adapter_index: int
    stage_name: str
    stage_status: StageStatus
    input_hash: str | None
    output_hash: str | None
    started_at: Timestamp
    completed_at: Timestamp | None
    duration_ms: float | None
    error_info: JSONObject | None
    replay_batch_id: str | None
    batch_id: str | None
    delivery_count: int
    storage_key: str | None
    metadata: JSONObject

    @classmethod
    def of(cls, entry: PipelineLineageEntry) -> LineageEntry:
        """The entry as the API shows it; its times stay datetimes until the response is encoded (once)."""
        return cls.model_validate(entry.api_fields())


class LineageMessage(BaseModel):
    """All rows of one message."""

    correlation_id: str
    parent_correlation_id: str | None
    execution_id: str
    status: Literal["failed", "processing", "cancelled", "completed"]
    started_at: Timestamp
    completed_at: Timestamp | None
    depth: int
    """0 = addressed message, negative = ancestors, positive = descendants."""
    entries: list[LineageEntry]


class LineageMessageResponse(LineageMessage):
    """L5 answer."""

    requested_entry_id: str | None
    """The row id if one was given, else null."""


class LineageListResponse(BaseModel):
    """L1/L2 page."""

    total: int
    limit: int
    offset: int
    has_more: bool
    entries: list[LineageEntry]
    next_cursor: str | None = None
    """Opaque token for the page after this one (pass it as `cursor`); null on the last page."""


class LineageBatchResponse(LineageListResponse):
    """L4 page."""

    batch_id: str
    kind: Literal["replay", "adapter", "mixed"]


class LineageStatsResponse(BaseModel):
    """L3 answer."""

    execution_id: str
    total: int
    rows: list[AdapterStats]
    """Per route × adapter, in route declaration order, then `adapter_index`."""


class LineageChainResponse(BaseModel):
    """L6 answer."""

    correlation_id: str
    root_correlation_id: str
    ancestors: list[LineageMessage]
    """Root first."""
    message: LineageMessage
    descendants: list[LineageMessage]
    """Breadth-first."""
    truncated: bool


class LineageChildrenResponse(BaseModel):
    """L7 page."""

    correlation_id: str
    total: int
    limit: int
    offset: int
    has_more: bool
    children: list[LineageMessage]
