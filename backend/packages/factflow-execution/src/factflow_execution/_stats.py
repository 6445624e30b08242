"""How `ExecutionStats`, `AdapterStats` and `RouteStatus` (the views) are computed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, cast

from factflow_engine.config import normalize_queue_name
from factflow_foundation import utc_now
from factflow_lineage import AdapterStats as LineageAdapterStats
from factflow_lineage import RouteMessageCounts
from factflow_lineage import StageCounts as LineageStageCounts

from ._models import PipelineExecution
from ._route_workers import RouteWorkers
from ._types import ExecutionStatus
from .views import (
    AdapterStats,
    ConcurrencyInfo,
    ExecutionStats,
    MessageCounts,
    ProcessorState,
    RouteStatus,
    StageCounts,
)

__all__ = (
    "LiveRouteState",
    "build_adapter_stats",
    "build_execution_stats",
    "build_route_statuses",
    "route_counts_from_json",
    "route_counts_to_json",
    "scoped_queue_name",
)


def scoped_queue_name(execution_id: str, queue: str) -> str:
    """Physical queue key of a logical queue name (the braces are literal)."""
    return f"factflow:{{{execution_id}}}:{normalize_queue_name(queue)}"


# ---------------------------------------------------------------- what the manager gives us


class LiveRouteState(Protocol):
    """Live processor state of one route, as `OrchestratorManager.route_statuses` reports it."""

    @property
    def route_id(self) -> str: ...
    @property
    def processor_state(self) -> str: ...
    @property
    def paused(self) -> bool: ...
    @property
    def concurrency_current(self) -> int | None: ...
    @property
    def concurrency_max(self) -> int | None: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def queue_depth(self) -> int | None: ...


# ---------------------------------------------------------------- computation


def build_adapter_stats(execution: PipelineExecution, rows: Sequence[LineageAdapterStats]) -> list[AdapterStats]:
    """Every adapter of the snapshot (zeros when it has no rows), by declaration order then index.

    Rows of adapters the snapshot does not know (never expected) follow, sorted by route and index.
    """
    by_key = {(row.route_id, row.adapter_index): AdapterStats.model_validate(row, from_attributes=True) for row in rows}
    result: list[AdapterStats] = []
    for route_id, route in execution.config_snapshot.config.routes.items():
        for index, adapter in enumerate(route.adapters):
            row = by_key.pop((route_id, index), None)
            if row is None:
                row = AdapterStats(
                    route_id=route_id,
                    adapter_name=adapter.type,
                    adapter_index=index,
                    stage_name=adapter.stage_name,
                    count=0,
                    pending=0,
                    processing=0,
                    completed=0,
                    failed=0,
                    skipped=0,
                    cancelled=0,
                    avg_duration_ms=None,
                    max_duration_ms=None,
                )
            result.append(row)
    result.extend(row for _, row in sorted(by_key.items(), key=lambda item: item[0]))
    return result


def build_execution_stats(
    execution: PipelineExecution,
    *,
    stage_counts: LineageStageCounts,
    adapter_rows: Sequence[LineageAdapterStats],
    message_counts: Mapping[str, Any] | None,
    status: ExecutionStatus | None = None,
    completed_at: datetime | None = None,
    now: datetime | None = None,
) -> ExecutionStats:
    """Combine lineage counts and message counters into `ExecutionStats`.

    Args:
        execution: The row (snapshot gives the adapter order and `tolerated_failures`).
        stage_counts: Row counts per status.
        adapter_rows: Row counts per route × adapter.
        message_counts: Live or frozen counters.
        status: Status to report (defaults to the row's); the callback passes the final one.
        completed_at: End of the elapsed window (defaults to the row's, else now).
        now: The computation time.
    """
    computed_at = now or utc_now()
    end = completed_at or execution.completed_at or computed_at
    elapsed_ms = max((end - execution.started_at).total_seconds() * 1000.0, 0.0)
    counts = StageCounts.model_validate(stage_counts, from_attributes=True)
    decided = counts.completed + counts.failed
    elapsed_s = elapsed_ms / 1000.0
    return ExecutionStats(
        execution_id=execution.execution_id,
        status=status or execution.status,
        computed_at=computed_at,
        elapsed_ms=elapsed_ms,
        message_counts=MessageCounts.normalize(message_counts, tolerated_failures=execution.tolerated_failures),
        stage_counts=counts,
        success_rate=counts.completed / decided if decided else None,
        avg_duration_ms=stage_counts.avg_duration_ms,
        throughput_per_second=counts.completed / elapsed_s if elapsed_s > 0 else 0.0,
        adapters=build_adapter_stats(execution, adapter_rows),
    )


def build_route_statuses(
    execution: PipelineExecution,
    *,
    live: Mapping[str, LiveRouteState] | None,
    paused: Mapping[str, bool],
    route_counts: Mapping[str, RouteMessageCounts],
    workers: RouteWorkers | None = None,
) -> list[RouteStatus]:
    """RouteStatus of every snapshot route in declaration order.

    Args:
        execution: The row; its snapshot gives routes and queues.
        live: Live processor states by route id, or `None` when no orchestrator runs it
            (finished executions then show `stopped`).
        paused: Global pause flags by route id.
        route_counts: Lineage per-message counts by route id.
        workers: Who serves each route, or None when unknown (then nobody is reported, and no
            route is said to wait).
    """
    statuses: list[RouteStatus] = []
    for route_id, route in execution.config_snapshot.config.routes.items():
        inbound = route.inbound.queue_name
        outbound = tuple(item.queue_name for item in route.outbound)
        state = live.get(route_id) if live is not None else None
        counts = route_counts.get(route_id)
        if state is not None:
            concurrency: ConcurrencyInfo | None = None
            if state.concurrency_current is not None and state.concurrency_max is not None:
                concurrency = ConcurrencyInfo(current=state.concurrency_current, max=state.concurrency_max)
            # The manager reports a `RouteState` value; the view validates it against the literal set.
            processor_state = cast(ProcessorState, str(state.processor_state))
            in_flight, depth = state.in_flight, state.queue_depth
            if processor_state == "stopped":
                concurrency = None
            route_paused = bool(state.paused or paused.get(route_id, False))
        else:
            processor_state, in_flight, depth, concurrency = "stopped", 0, None, None
            route_paused = paused.get(route_id, False)
        statuses.append(
            RouteStatus(
                route_id=route_id,
                name=route.name or route_id,
                inbound_queue=inbound,
                outbound_queues=list(outbound),
                scoped_queue=scoped_queue_name(execution.execution_id, inbound),
                processor_state=processor_state,
                paused=route_paused,
                concurrency=concurrency,
                in_flight=in_flight,
                queue_depth=depth,
                total_messages=counts.total_messages if counts else 0,
                completed=counts.completed if counts else 0,
                failed=counts.failed if counts else 0,
                cancelled=counts.cancelled if counts else 0,
                in_progress=counts.in_progress if counts else 0,
                avg_duration_ms=counts.avg_duration_ms if counts else None,
                pool=route.inbound.pool,
                workers=sorted(workers.by_route.get(route_id, ())) if workers is not None else [],
                waiting_for_worker=(
                    workers is not None
                    and execution.status == "running"
                    and route.inbound.pool not in workers.live_pools
                ),
            )
        )
    return statuses


def route_counts_to_json(counts: Mapping[str, RouteMessageCounts]) -> dict[str, Any]:
    """Per-route message counts as stored in `pipeline_executions.route_counts`."""
    return {
        route_id: {
            "total_messages": value.total_messages,
            "completed": value.completed,
            "failed": value.failed,
            "cancelled": value.cancelled,
            "in_progress": value.in_progress,
            "avg_duration_ms": value.avg_duration_ms,
        }
        for route_id, value in counts.items()
    }


def route_counts_from_json(stored: Mapping[str, Any]) -> dict[str, RouteMessageCounts]:
    """The stored `route_counts` back as `RouteMessageCounts` by route id.

    Raises:
        KeyError, TypeError, ValueError: The stored value is not in the shape `route_counts_to_json` writes.
    """
    counts: dict[str, RouteMessageCounts] = {}
    for route_id, value in stored.items():
        avg = value["avg_duration_ms"]
        counts[route_id] = RouteMessageCounts(
            route_id=route_id,
            total_messages=int(value["total_messages"]),
            completed=int(value["completed"]),
            failed=int(value["failed"]),
            cancelled=int(value["cancelled"]),
            in_progress=int(value["in_progress"]),
            avg_duration_ms=None if avg is None else float(avg),
        )
    return counts
