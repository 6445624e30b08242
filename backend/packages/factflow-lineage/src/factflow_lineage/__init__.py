"""Lineage rows, the batched recorder and lineage queries.

The row states (`LineageRecord`, `StageStatus`), the sink contract and the row-state machine
(`LineageService`) live in factflow-protocols, so the engine needs no ORM; this package writes and
reads the `pipeline_lineage` table and the counters kept beside it (`pipeline_lineage_stages`,
`pipeline_lineage_routes`, `pipeline_lineage_messages`). `LineageService` and
`StageStatus` are re-exported here because they belong to this package's documented surface.

Depends on factflow-foundation, factflow-protocols and factflow-infra; must not import the
engine or anything above it.
"""

from __future__ import annotations

from factflow_protocols import LineageService, StageStatus

from ._model import LineageRow, LineageStageRow, PipelineLineageEntry
from ._recorder import LineageRecorder
from ._repository import LineageRepository, LineageSortField, SortOrder
from ._results import (
    AdapterStats,
    BatchKind,
    LineageBatch,
    LineageChain,
    LineageMessage,
    LineageStats,
    MessageStatus,
    RouteMessageCounts,
    StageCounts,
)

__all__ = (
    # rows
    "PipelineLineageEntry",
    "LineageRow",
    "LineageStageRow",
    "StageStatus",
    # writing
    "LineageRecorder",
    "LineageService",
    # queries
    "LineageRepository",
    "LineageSortField",
    "SortOrder",
    "LineageMessage",
    "MessageStatus",
    "LineageChain",
    "LineageBatch",
    "BatchKind",
    "LineageStats",
    "AdapterStats",
    "StageCounts",
    "RouteMessageCounts",
)
