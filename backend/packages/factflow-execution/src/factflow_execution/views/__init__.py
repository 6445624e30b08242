"""The answer bodies of docs/reference/http-api.md that the execution layer computes.

Each is defined once, here; the server returns them as they are (they are its OpenAPI
components) and nothing converts them to dicts on the way.
"""

from __future__ import annotations

from ._base import View
from ._dag import DAGAdapter, DAGEdge, DAGNode, DAGOutbound, DAGResponse
from ._metrics import domain_metrics, route_metrics, route_snapshot, route_snapshots
from ._routes import ConcurrencyInfo, ProcessorState, RouteStatus
from ._stats import AdapterStats, ExecutionStats, MessageCounts, StageCounts
from ._wait import ExecutionWaitResult, WaitResult

__all__ = (
    "View",
    # counters and stats
    "MessageCounts",
    "StageCounts",
    "AdapterStats",
    "ExecutionStats",
    # routes
    "RouteStatus",
    "ConcurrencyInfo",
    "ProcessorState",
    # route graph
    "DAGResponse",
    "DAGNode",
    "DAGEdge",
    "DAGAdapter",
    "DAGOutbound",
    # engine metrics
    "domain_metrics",
    "route_metrics",
    "route_snapshot",
    "route_snapshots",
    # waiting
    "WaitResult",
    "ExecutionWaitResult",
)
