"""Lineage rows, the batched recorder and lineage queries.

Depends on factflow-foundation, factflow-protocols and factflow-infra; must not import the
engine or anything above it.
"""

from __future__ import annotations

from ._model import PipelineLineageEntry
from ._record import LineageRecord, StageStatus
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
from ._service import LineageEventSink, LineageService, LineageSink, StageInvocation, build_error_info

__all__ = (
    # rows
    "PipelineLineageEntry",
    "LineageRecord",
    "StageStatus",
    # writing
    "LineageRecorder",
    "LineageSink",
    "LineageService",
    "LineageEventSink",
    "StageInvocation",
    "build_error_info",
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
