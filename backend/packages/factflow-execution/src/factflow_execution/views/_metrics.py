"""The engine's metrics answers (`GET /system/metrics`, `get_route_metrics`, Prometheus), built from live state.

The manager only keeps counters and knows its live route processors; these builders read them and
assemble the answer bodies, so the manager owns no presentation. Route metrics merge this
process's snapshot of a route with those worker processes published (`merge_route_snapshots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from factflow_engine.runtime import (
    DIGEST_POINTS,
    AdapterCircuitMetrics,
    CircuitBreakerSummary,
    DomainMetrics,
    ExecutionCounters,
    LatencyDigest,
    MessageTotals,
    OrchestratorManager,
    RouteCounters,
    RouteExecutionSnapshot,
    RouteMetrics,
    RouteSnapshot,
    RouteState,
    StorageTotals,
    merge_route_snapshots,
)

__all__ = ("domain_metrics", "route_metrics", "route_snapshot", "route_snapshots")


def domain_metrics(manager: OrchestratorManager) -> DomainMetrics:
    """The orchestrator snapshot: totals since start plus the live processors' state."""
    registry = manager.metrics_registry
    routes = registry.routes.values()
    processors = manager.live_processors()
    paused = manager.paused_routes()
    route_in_flight: dict[str, int] = {}
    route_concurrency: dict[str, int] = {}
    for _, processor in processors:
        route_in_flight[processor.route_id] = route_in_flight.get(processor.route_id, 0) + processor.in_flight
        route_concurrency[processor.route_id] = (
            route_concurrency.get(processor.route_id, 0) + processor.backpressure.limit
        )
    finished = registry.executions_finished
    storage = manager.storage_counters
    return DomainMetrics(
        timestamp=datetime.now(UTC),
        uptime_seconds=registry.uptime_seconds,
        executions=ExecutionCounters(
            running=len(manager.live_execution_ids()),
            max_concurrent=manager.max_concurrent_executions,
            started_total=registry.executions_started_total,
            completed_total=finished["completed"],
            failed_total=finished["failed"],
            cancelled_total=finished["cancelled"],
            interrupted_total=finished["interrupted"],
        ),
        messages=MessageTotals(
            received_total=sum(route.received for route in routes),
            completed_total=sum(route.completed for route in routes),
            failed_total=sum(route.failed for route in routes),
            dead_lettered_total=sum(route.dead_lettered for route in routes),
            retried_total=sum(route.retried for route in routes),
            in_flight=manager.live_in_flight(),
        ),
        routes={
            "running": sum(1 for _, processor in processors if processor.state is RouteState.RUNNING),
            "paused": len(paused),
        },
        storage=StorageTotals(writes_total=storage.writes_total, write_failures_total=storage.write_failures_total),
        route_counters=dict(registry.routes),
        route_in_flight=route_in_flight,
        route_concurrency=route_concurrency,
        route_paused={route_id: route_id in paused for route_id in set(registry.routes) | set(paused)},
        circuit_breakers=[(metric.route_id, _breaker_summary(metric)) for metric in manager.circuit_breakers()],
        executions_started_by_source=dict(registry.executions_started_by_source),
    )


def route_snapshot(
    manager: OrchestratorManager, route_id: str, *, max_points: int | None = None
) -> RouteSnapshot | None:
    """This process's figures of one route name; None if it was never seen here.

    Its latency window is kept whole unless `max_points` bounds the digest (a snapshot that travels).
    """
    processors = manager.live_processors(route_id)
    counters = manager.metrics_registry.routes.get(route_id)
    if not processors and counters is None:
        return None
    counters = counters or RouteCounters(route_id)
    targets = [processor.processor.backpressure.target_latency_ms for _, processor in processors]
    return RouteSnapshot(
        route_id=route_id,
        received=counters.received,
        completed=counters.completed,
        failed=counters.failed,
        dead_lettered=counters.dead_lettered,
        retried=counters.retried,
        latency=LatencyDigest.of(counters.window(), max_points=max_points),
        processors=len(processors),
        in_flight=sum(processor.in_flight for _, processor in processors),
        concurrency_current=sum(processor.backpressure.limit for _, processor in processors),
        concurrency_max=sum(processor.backpressure.max_concurrency for _, processor in processors),
        target_latency_ms=targets[0] if targets else None,
        breakers=tuple(
            (execution_id, _breaker_summary(metric))
            for execution_id, processor in processors
            for metric in processor.circuit_metrics()
        ),
        executions=tuple(
            RouteExecutionSnapshot(
                execution_id=execution_id,
                received=processor.execution_counts.received,
                completed=processor.execution_counts.completed,
                failed=processor.execution_counts.failed,
                in_flight=processor.in_flight,
                queue_depth=processor.queue_depth,
            )
            for execution_id, processor in processors
        ),
    )


def route_snapshots(manager: OrchestratorManager) -> list[RouteSnapshot]:
    """This process's figures of every route name it runs or ran since start, reduced to travel (a heartbeat)."""
    route_ids = sorted(set(manager.metrics_registry.routes) | {p.route_id for _, p in manager.live_processors()})
    snapshots = (route_snapshot(manager, route_id, max_points=DIGEST_POINTS) for route_id in route_ids)
    return [snapshot for snapshot in snapshots if snapshot is not None]


def route_metrics(
    manager: OrchestratorManager, route_id: str, *, remote: Sequence[RouteSnapshot] = ()
) -> RouteMetrics | None:
    """One route name across live executions, merged with other processes' snapshots of it (`remote`).

    None if it was never seen here nor in `remote`, is not paused, and is no route of a live
    execution (one whose routes only workers run has figures once their next heartbeat told them).
    """
    paused = route_id in manager.paused_routes()
    local = route_snapshot(manager, route_id)
    snapshots = [snapshot for snapshot in (local, *remote) if snapshot is not None]
    if not snapshots and not paused and route_id not in manager.known_route_ids():
        return None
    return merge_route_snapshots(route_id, snapshots, paused=paused)


def _breaker_summary(metric: AdapterCircuitMetrics) -> CircuitBreakerSummary:
    return CircuitBreakerSummary(
        adapter_name=metric.adapter_name,
        adapter_index=metric.adapter_index,
        state=metric.stats.state.value,
        consecutive_failures=metric.stats.consecutive_failures,
        opened_at=metric.opened_at,
    )
