"""ExecutionStats, AdapterStats and RouteStatus (docs/reference/http-api-endpoints.md) and how they are computed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from factflow_engine.config import normalize_queue_name
from factflow_foundation import parse_rfc3339, rfc3339, utc_now
from factflow_lineage import AdapterStats as LineageAdapterStats
from factflow_lineage import RouteMessageCounts, StageCounts

from ._models import MessageCounts, PipelineExecution, normalize_counts
from ._types import ExecutionStatus

__all__ = (
    "STAGE_COUNT_KEYS",
    "AdapterStats",
    "ExecutionStats",
    "LiveRouteState",
    "RouteStatus",
    "build_adapter_stats",
    "build_execution_stats",
    "build_route_statuses",
    "scoped_queue_name",
)

STAGE_COUNT_KEYS = ("total", "pending", "processing", "completed", "failed", "skipped", "cancelled")


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


# ---------------------------------------------------------------- shapes


@dataclass(frozen=True, slots=True)
class AdapterStats:
    """Lineage row counts of one route × adapter (docs/reference/http-api-endpoints.md `AdapterStats`)."""

    route_id: str
    adapter_name: str
    adapter_index: int
    stage_name: str
    count: int = 0
    """Rows in total."""
    pending: int = 0
    processing: int = 0
    completed: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    avg_duration_ms: float | None = None
    """Mean over completed rows."""
    max_duration_ms: float | None = None
    """Maximum over completed rows."""

    def to_api(self) -> dict[str, Any]:
        return {
            "route_id": self.route_id,
            "adapter_name": self.adapter_name,
            "adapter_index": self.adapter_index,
            "stage_name": self.stage_name,
            "count": self.count,
            "pending": self.pending,
            "processing": self.processing,
            "completed": self.completed,
            "failed": self.failed,
            "skipped": self.skipped,
            "cancelled": self.cancelled,
            "avg_duration_ms": self.avg_duration_ms,
            "max_duration_ms": self.max_duration_ms,
        }

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> AdapterStats:
        return cls(
            route_id=str(data["route_id"]),
            adapter_name=str(data["adapter_name"]),
            adapter_index=int(data["adapter_index"]),
            stage_name=str(data["stage_name"]),
            count=int(data.get("count") or 0),
            pending=int(data.get("pending") or 0),
            processing=int(data.get("processing") or 0),
            completed=int(data.get("completed") or 0),
            failed=int(data.get("failed") or 0),
            skipped=int(data.get("skipped") or 0),
            cancelled=int(data.get("cancelled") or 0),
            avg_duration_ms=data.get("avg_duration_ms"),
            max_duration_ms=data.get("max_duration_ms"),
        )


@dataclass(frozen=True, slots=True)
class ExecutionStats:
    """Counters and per-adapter stats of one execution (docs/reference/http-api-endpoints.md `ExecutionStats`)."""

    execution_id: str
    status: ExecutionStatus
    computed_at: datetime
    elapsed_ms: float
    """To `completed_at`, or now while running."""
    message_counts: MessageCounts
    stage_counts: dict[str, int]
    """`{total, pending, processing, completed, failed, skipped, cancelled}` over rows."""
    success_rate: float | None
    """`completed / (completed + failed)`; `None` when both are 0."""
    avg_duration_ms: float | None
    """Mean over completed rows."""
    throughput_per_second: float
    """Completed rows per elapsed second."""
    adapters: tuple[AdapterStats, ...] = field(default_factory=tuple)
    """By route declaration order, then `adapter_index`."""

    def to_api(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "computed_at": rfc3339(self.computed_at),
            "elapsed_ms": self.elapsed_ms,
            "message_counts": dict(self.message_counts),
            "stage_counts": dict(self.stage_counts),
            "success_rate": self.success_rate,
            "avg_duration_ms": self.avg_duration_ms,
            "throughput_per_second": self.throughput_per_second,
            "adapters": [adapter.to_api() for adapter in self.adapters],
        }

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ExecutionStats:
        """Rebuild frozen stats stored on a row."""
        return cls(
            execution_id=data["execution_id"],
            status=data["status"],
            computed_at=parse_rfc3339(str(data["computed_at"])),
            elapsed_ms=float(data["elapsed_ms"]),
            message_counts=normalize_counts(data.get("message_counts")),
            stage_counts={key: int((data.get("stage_counts") or {}).get(key, 0)) for key in STAGE_COUNT_KEYS},
            success_rate=data.get("success_rate"),
            avg_duration_ms=data.get("avg_duration_ms"),
            throughput_per_second=float(data.get("throughput_per_second") or 0.0),
            adapters=tuple(AdapterStats.from_api(item) for item in data.get("adapters") or ()),
        )

    def with_status(self, status: ExecutionStatus) -> ExecutionStats:
        """The same figures under another status (for rows changed after the stats were frozen)."""
        return ExecutionStats(
            execution_id=self.execution_id,
            status=status,
            computed_at=self.computed_at,
            elapsed_ms=self.elapsed_ms,
            message_counts=self.message_counts,
            stage_counts=self.stage_counts,
            success_rate=self.success_rate,
            avg_duration_ms=self.avg_duration_ms,
            throughput_per_second=self.throughput_per_second,
            adapters=self.adapters,
        )


@dataclass(frozen=True, slots=True)
class RouteStatus:
    """One route of an execution: queues, processor state and lineage progress (HTTP API `RouteStatus`)."""

    route_id: str
    name: str
    inbound_queue: str
    """Logical (normalised) name from the snapshot."""
    outbound_queues: tuple[str, ...]
    """Logical (normalised) names from the snapshot."""
    scoped_queue: str
    """`factflow:{<execution_id>}:<inbound_queue>`."""
    processor_state: str
    """`starting`, `running`, `paused`, `stopping`, `stopped` or `failed`."""
    paused: bool
    """Global pause flag of the route name."""
    concurrency: dict[str, int] | None
    """`{current, max}`, or `None` when stopped."""
    in_flight: int
    """Messages inside the adapter chain now."""
    queue_depth: int | None
    """Waiting in the scoped queue; `None` when stopped or unknown."""
    total_messages: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    in_progress: int = 0
    avg_duration_ms: float | None = None
    """Mean over completed rows of the route."""

    def to_api(self) -> dict[str, Any]:
        return {
            "route_id": self.route_id,
            "name": self.name,
            "inbound_queue": self.inbound_queue,
            "outbound_queues": list(self.outbound_queues),
            "scoped_queue": self.scoped_queue,
            "processor_state": self.processor_state,
            "paused": self.paused,
            "concurrency": dict(self.concurrency) if self.concurrency is not None else None,
            "in_flight": self.in_flight,
            "queue_depth": self.queue_depth,
            "total_messages": self.total_messages,
            "completed": self.completed,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "in_progress": self.in_progress,
            "avg_duration_ms": self.avg_duration_ms,
        }

    def to_snapshot_item(self) -> dict[str, Any]:
        """The short form of `execution.snapshot` events: `{route_id, processor_state, paused, in_flight}`."""
        return {
            "route_id": self.route_id,
            "processor_state": self.processor_state,
            "paused": self.paused,
            "in_flight": self.in_flight,
        }


# ---------------------------------------------------------------- computation


def build_adapter_stats(execution: PipelineExecution, rows: Sequence[LineageAdapterStats]) -> tuple[AdapterStats, ...]:
    """Every adapter of the snapshot (zeros when it has no rows), by declaration order then index.

    Rows of adapters the snapshot does not know (never expected) follow, sorted by route and index.
    """
    # Both types are the docs/reference/http-api-endpoints.md `AdapterStats` object; ours adds zero defaults and
    # `from_api` for frozen stats.
    by_key = {(row.route_id, row.adapter_index): AdapterStats.from_api(row.to_api_dict()) for row in rows}
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
                )
            result.append(row)
    result.extend(row for _, row in sorted(by_key.items(), key=lambda item: item[0]))
    return tuple(result)


def build_execution_stats(
    execution: PipelineExecution,
    *,
    stage_counts: StageCounts,
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
    counts = stage_counts.to_api_dict()
    decided = counts["completed"] + counts["failed"]
    elapsed_s = elapsed_ms / 1000.0
    return ExecutionStats(
        execution_id=execution.execution_id,
        status=status or execution.status,
        computed_at=computed_at,
        elapsed_ms=elapsed_ms,
        message_counts=normalize_counts(
            dict(message_counts) if message_counts is not None else None,
            tolerated_failures=execution.tolerated_failures,
        ),
        stage_counts=counts,
        success_rate=counts["completed"] / decided if decided else None,
        avg_duration_ms=stage_counts.avg_duration_ms,
        throughput_per_second=counts["completed"] / elapsed_s if elapsed_s > 0 else 0.0,
        adapters=build_adapter_stats(execution, adapter_rows),
    )


def build_route_statuses(
    execution: PipelineExecution,
    *,
    live: Mapping[str, LiveRouteState] | None,
    paused: Mapping[str, bool],
    route_counts: Mapping[str, RouteMessageCounts],
) -> list[RouteStatus]:
    """RouteStatus of every snapshot route in declaration order.

    Args:
        execution: The row; its snapshot gives routes and queues.
        live: Live processor states by route id, or `None` when no orchestrator runs it
            (finished executions then show `stopped`).
        paused: Global pause flags by route id.
        route_counts: Lineage per-message counts by route id.
    """
    statuses: list[RouteStatus] = []
    for route_id, route in execution.config_snapshot.config.routes.items():
        inbound = route.inbound.queue_name
        outbound = tuple(item.queue_name for item in route.outbound)
        state = live.get(route_id) if live is not None else None
        counts = route_counts.get(route_id)
        if state is not None:
            concurrency: dict[str, int] | None = None
            if state.concurrency_current is not None and state.concurrency_max is not None:
                concurrency = {"current": state.concurrency_current, "max": state.concurrency_max}
            processor_state, in_flight, depth = str(state.processor_state), state.in_flight, state.queue_depth
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
                outbound_queues=outbound,
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
            )
        )
    return statuses
