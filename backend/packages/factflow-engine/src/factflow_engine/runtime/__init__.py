"""The engine runtime: manager, orchestrator, route processors, gates, breakers and metrics."""

from __future__ import annotations

from ._accounting import CompletionAccountant, MessageCounts
from ._backpressure import AdaptiveLimiter, AimdDecision, BackpressureController
from ._builder import BuiltExecution, ExecutionBuilder, ExecutionBuildError, ExecutionPlan
from ._circuit_breaker import AdapterCircuitMetrics, CircuitBreaker, CircuitState, CircuitStats
from ._context import (
    AdapterFactory,
    AdapterSlot,
    ExecutionRuntime,
    LineageLookup,
    RuntimeDependencies,
    RuntimeOptions,
)
from ._delivery import DeadLetterReason, RouteExecutionCounts
from ._errors import CircuitOpenError, ExecutionStartError, TooManyConcurrentExecutionsError
from ._events import PROGRESS_INTERVAL_SECONDS, EventEmitter, ProgressReporter
from ._gates import FanoutBudget
from ._manager import ExecutionReservation, OrchestratorManager
from ._metrics import (
    METRICS_WINDOW_SECONDS,
    AdapterDurationHistogram,
    CircuitBreakerSummary,
    DomainMetrics,
    ExecutionCounters,
    LatencySummary,
    MessageTotals,
    MetricsRegistry,
    RouteConcurrency,
    RouteCounters,
    RouteExecutionMetrics,
    RouteMessageMetrics,
    RouteMetrics,
    StorageTotals,
)
from ._orchestrator import OrchestratorPhase, PipelineOrchestrator
from ._retry import JITTER_RANGE, retry_delay
from ._route import ReactiveRouteProcessor, RouteRuntimeStatus, RouteState
from ._route_snapshot import (
    DIGEST_POINTS,
    LatencyDigest,
    RouteExecutionSnapshot,
    RouteSnapshot,
    decode_route_snapshots,
    encode_route_snapshots,
    merge_route_snapshots,
)
from ._scoped_queue import ExecutionScopedQueue, scoped_queue_name, scoped_queue_prefix
from ._seed import SeedCallable, SeedContext, SeedHost
from ._shared import (
    STATE_LOST_CODE,
    ExecutionRole,
    LineageCounts,
    LineageCountsCallable,
    LineageRepairCallable,
    Placement,
    SharedExecutionState,
)
from ._wiring import EngineLimits, EngineWiring

__all__ = (
    # manager and orchestrator
    "OrchestratorManager",
    "ExecutionReservation",
    "PipelineOrchestrator",
    "OrchestratorPhase",
    "EngineWiring",
    "EngineLimits",
    "ExecutionBuilder",
    "ExecutionPlan",
    "BuiltExecution",
    "ExecutionBuildError",
    "RuntimeDependencies",
    "RuntimeOptions",
    "SeedContext",
    "SeedCallable",
    "SeedHost",
    "ExecutionRole",
    "LineageRepairCallable",
    "LineageCounts",
    "LineageCountsCallable",
    "STATE_LOST_CODE",
    "Placement",
    "SharedExecutionState",
    "AdapterFactory",
    "LineageLookup",
    # routes
    "ReactiveRouteProcessor",
    "RouteState",
    "RouteRuntimeStatus",
    "RouteExecutionCounts",
    "AdapterSlot",
    "ExecutionRuntime",
    "DeadLetterReason",
    # queues and accounting
    "ExecutionScopedQueue",
    "scoped_queue_name",
    "scoped_queue_prefix",
    "CompletionAccountant",
    "MessageCounts",
    # flow control
    "BackpressureController",
    "AdaptiveLimiter",
    "AimdDecision",
    "FanoutBudget",
    "CircuitBreaker",
    "CircuitState",
    "CircuitStats",
    "CircuitOpenError",
    "AdapterCircuitMetrics",
    "retry_delay",
    "JITTER_RANGE",
    # events
    "EventEmitter",
    "ProgressReporter",
    "PROGRESS_INTERVAL_SECONDS",
    # metrics
    "DomainMetrics",
    "RouteMetrics",
    "RouteMessageMetrics",
    "RouteConcurrency",
    "RouteExecutionMetrics",
    "LatencySummary",
    "CircuitBreakerSummary",
    "ExecutionCounters",
    "MessageTotals",
    "StorageTotals",
    "MetricsRegistry",
    "RouteCounters",
    "AdapterDurationHistogram",
    "METRICS_WINDOW_SECONDS",
    # route figures across processes
    "RouteSnapshot",
    "RouteExecutionSnapshot",
    "LatencyDigest",
    "DIGEST_POINTS",
    "encode_route_snapshots",
    "decode_route_snapshots",
    "merge_route_snapshots",
    # errors
    "TooManyConcurrentExecutionsError",
    "ExecutionStartError",
)
