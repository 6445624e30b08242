"""Configs, executions, waiting and event streams (docs/concepts/executions.md).

Depends on foundation, protocols, infra, lineage and engine; must not import replay, server or cli.
"""

from __future__ import annotations

from ._calculator import StatsCalculator
from ._callbacks import ExecutionStatusCallbackAdapter
from ._compose import ExecutionServices, ExecutionStores, ReplayFactory
from ._config_repository import UNSET, ConfigState, PipelineConfigRepository, Unset
from ._config_service import PipelineConfigService
from ._dag import build_dag
from ._db import Page
from ._events import EndReason, EventKind, EventStamper, StreamEnd, StreamEvent
from ._execution_repository import PipelineExecutionRepository, SortOrder
from ._hub import ExecutionEventHub, HubSubscription
from ._launcher import ExecutionLauncher
from ._merge import deep_merge
from ._models import PipelineConfig, PipelineExecution, ReplayInfo
from ._orm import PipelineConfigRow, PipelineExecutionRow, RoutePauseRow
from ._pause_repository import RoutePauseRepository
from ._ports import ExecutionManager, ExecutionSlot, ReplayCoordinator
from ._route_workers import RouteWorkerLookup, RouteWorkers
from ._service import ExecutionLineagePage, ExecutionService, RequestedStatus, StatusChangeResult
from ._snapshot import ENGINE_VERSION, build_snapshot
from ._stored_snapshot import StoredSnapshot
from ._streams import ExecutionEventStreamer, ExecutionReader, StorageEventStreamer
from ._types import (
    FINAL_STATUSES,
    STOPPED_STATUSES,
    ConfigSourceType,
    ExecutionSource,
    ExecutionStatus,
    ReplaySource,
    is_uuid_shaped,
)
from ._waiter import ExecutionWaiter
from .errors import (
    ConfigInactiveError,
    ConfigNameRequiredError,
    ConfigNotFoundError,
    ConfigValidationError,
    EventStreamerUnavailableError,
    ExecutionNotFoundError,
    InvalidStatusTransitionError,
    ReplayUnavailableError,
    SnapshotUnreadableError,
    TagConflictError,
    VersionConflictError,
    YamlParseError,
)
from .views import (
    AdapterStats,
    ConcurrencyInfo,
    DAGAdapter,
    DAGEdge,
    DAGNode,
    DAGOutbound,
    DAGResponse,
    ExecutionStats,
    ExecutionWaitResult,
    MessageCounts,
    RouteStatus,
    StageCounts,
    WaitResult,
)

__all__ = (
    # models and enumerations
    "PipelineConfig",
    "PipelineExecution",
    "StoredSnapshot",
    "ConfigSourceType",
    "ReplaySource",
    "ExecutionStatus",
    "ExecutionSource",
    "FINAL_STATUSES",
    "STOPPED_STATUSES",
    "MessageCounts",
    "ReplayInfo",
    "ExecutionStats",
    "AdapterStats",
    "RouteStatus",
    "DAGNode",
    "DAGEdge",
    "DAGResponse",
    "DAGAdapter",
    "DAGOutbound",
    "StageCounts",
    "ConcurrencyInfo",
    "WaitResult",
    "build_dag",
    "deep_merge",
    "is_uuid_shaped",
    # services and their composition root
    "ExecutionService",
    "ExecutionLauncher",
    "ExecutionServices",
    "ExecutionStores",
    "ReplayFactory",
    "PipelineConfigService",
    "ExecutionStatusCallbackAdapter",
    "ReplayCoordinator",
    "RouteWorkerLookup",
    "RouteWorkers",
    "ExecutionManager",
    "ExecutionSlot",
    "StatusChangeResult",
    "RequestedStatus",
    "ExecutionLineagePage",
    "StatsCalculator",
    "build_snapshot",
    "ENGINE_VERSION",
    # repositories
    "PipelineConfigRepository",
    "PipelineExecutionRepository",
    "RoutePauseRepository",
    "PipelineConfigRow",
    "PipelineExecutionRow",
    "RoutePauseRow",
    "Page",
    "SortOrder",
    "ConfigState",
    "UNSET",
    "Unset",
    # waiting and streaming
    "ExecutionEventHub",
    "EventStamper",
    "HubSubscription",
    "ExecutionWaiter",
    "ExecutionWaitResult",
    "ExecutionEventStreamer",
    "StorageEventStreamer",
    "ExecutionReader",
    "StreamEvent",
    "StreamEnd",
    "EndReason",
    "EventKind",
    # errors
    "ConfigValidationError",
    "YamlParseError",
    "ConfigNotFoundError",
    "ConfigInactiveError",
    "ConfigNameRequiredError",
    "VersionConflictError",
    "ExecutionNotFoundError",
    "TagConflictError",
    "InvalidStatusTransitionError",
    "ReplayUnavailableError",
    "SnapshotUnreadableError",
    "EventStreamerUnavailableError",
)
