"""What the server reports about itself: health probes, the debug block, metrics snapshots."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import asdict

from factflow_engine.runtime import DomainMetrics
from factflow_execution.views import domain_metrics
from factflow_foundation import FactflowError, utc_now
from factflow_infra.database import ping_database
from factflow_infra.workers import WorkerRecord

from ._container import ServiceContainer
from ._health import ComponentStatus, ProbeResult
from ._metrics import AdapterSample, EngineMetricsSample, RouteSample, WorkerSample
from ._settings import settings_summary
from ._workers import describe_waits, pools_in_use
from .schemas._system import (
    AdaptersDebug,
    DatabaseDebug,
    ExecutionCounters,
    HealthDebug,
    LineageCounters,
    LineageDebug,
    MessageCounters,
    MetricsSnapshot,
    OrchestratorDebug,
    QueueDebug,
    RouteCounters,
    StorageCounters,
    StorageDebug,
    WorkerFigures,
    WorkerMetrics,
)

__all__ = ("debug_info", "engine_sample", "install_probes", "metrics_snapshot", "worker_figures")

_PROBE_SECONDS = 2.0
_LINEAGE_PRESSURE = 0.8
# A Redis outage only degrades the server (docs/concepts/guarantees.md): work resumes once it is back.
_QUEUE_STATES: dict[str, ComponentStatus] = {
    "healthy": "healthy",
    "degraded": "degraded",
    "reconnecting": "degraded",
    "stalled": "unhealthy",
}


def install_probes(container: ServiceContainer) -> None:
    """Register the five component probes on the container."""

    async def database() -> ProbeResult:
        await ping_database(container.backends.database, timeout_seconds=_PROBE_SECONDS)
        return ProbeResult("healthy")

    async def queue() -> ProbeResult:
        health = await container.backends.queue.health()
        return ProbeResult(_QUEUE_STATES[health.health_state], health.message)

    async def storage() -> ProbeResult:
        health = await container.backends.storage.health()
        return ProbeResult(health.status, health.message)

    async def orchestrator() -> ProbeResult:
        if container.stopping:
            return ProbeResult("unhealthy", "the server is shutting down")
        leadership = container.cluster.leadership
        if leadership.role == "standby":
            return ProbeResult("healthy", f"{leadership.describe()}: runs no executions until it takes the lock")
        running = len(container.executions.manager.live_execution_ids())
        capacity = container.executions.manager.max_concurrent_executions
        return ProbeResult("healthy", f"leader: {running} of {capacity} execution slots in use")

    async def lineage() -> ProbeResult:
        recorder = container.lineage.recorder
        limit = container.settings.lineage_buffer_size
        note = f"{recorder.buffered} buffered, {recorder.dropped_total} dropped"
        if recorder.buffered >= limit * _LINEAGE_PRESSURE:
            return ProbeResult("degraded", f"lineage writer is behind: {note}")
        return ProbeResult("healthy", note)

    async def workers() -> ProbeResult:
        # A registry or database outage is reported by `queue` / `database`; here it only means
        # membership is unknown for now.
        try:
            live_by_pool, waits = await container.cluster.workers.waiting_routes(container.executions.repository)
        except FactflowError as exc:
            return ProbeResult("degraded", f"worker membership unknown: {exc}")
        if waits:
            return ProbeResult("degraded", describe_waits(waits))
        pools = ", ".join(f"{pool} ({count})" for pool, count in sorted(live_by_pool.items())) or "none"
        return ProbeResult("healthy", f"live workers per pool: {pools}")

    container.probes.update(
        {
            "database": database,
            "queue": queue,
            "storage": storage,
            "orchestrator": orchestrator,
            "lineage": lineage,
            "workers": workers,
        }
    )


async def debug_info(container: ServiceContainer) -> HealthDebug:
    """The `debug` block of the health answer (credentials masked)."""
    return HealthDebug(
        settings=settings_summary(container.settings),
        queue=await _queue_debug(container),
        orchestrator=_orchestrator_debug(container),
        lineage=_lineage_debug(container),
        storage=await _storage_debug(container),
        database=_database_debug(container),
        adapters=AdaptersDebug(
            count=len(container.pipelines.registry.types()), types=list(container.pipelines.registry.types())
        ),
    )


async def _queue_debug(container: ServiceContainer) -> QueueDebug | None:
    try:
        health = await container.backends.queue.health()
    except Exception:
        return None
    details = health.details
    return QueueDebug(
        provider=health.provider,
        connected=health.connected,
        health_state=health.health_state,
        last_message_age_seconds=details.get("last_message_age_seconds"),
        reconnect_attempts=details.get("reconnect_attempts"),
        active_subscriptions=details.get("active_subscriptions"),
        pending_total=details.get("pending_total"),
    )


def _orchestrator_debug(container: ServiceContainer) -> OrchestratorDebug:
    manager = container.executions.manager
    routes = sorted({f"{status.execution_id}:{status.route_id}" for status in manager.list_routes()})
    return OrchestratorDebug(
        running_executions=sorted(manager.live_execution_ids()),
        running_routes=routes,
        paused_routes=sorted(manager.paused_routes()),
    )


def _lineage_debug(container: ServiceContainer) -> LineageDebug:
    recorder = container.lineage.recorder
    return LineageDebug(
        buffered=recorder.buffered,
        dropped_total=recorder.dropped_total,
        flush_failures_total=recorder.flush_failures_total,
        last_flush_at=recorder.last_flush_at,
    )


async def _storage_debug(container: ServiceContainer) -> StorageDebug | None:
    try:
        health = await container.backends.storage.health()
    except Exception:
        return None
    return StorageDebug(provider=health.provider, writable=health.writable)


def _database_debug(container: ServiceContainer) -> DatabaseDebug:
    pool = container.backends.database.pool
    size = getattr(pool, "size", None)
    checked_out = getattr(pool, "checkedout", None)
    return DatabaseDebug(
        dialect=container.backends.database.dialect.name,
        pool_size=size() if callable(size) else None,
        checked_out=checked_out() if callable(checked_out) else None,
    )


def worker_figures(records: Sequence[WorkerRecord], *, now: float, pools_needed: Collection[str] = ()) -> WorkerFigures:
    """Live workers per pool and each worker's figures, from registry records.

    `pools_needed` (the pools of running executions) show 0 when no listed worker serves them.
    """
    live_by_pool: dict[str, int] = dict.fromkeys(pools_needed, 0)
    for record in records:
        for pool in record.pools:
            live_by_pool[pool] = live_by_pool.get(pool, 0) + (1 if record.live else 0)
    return WorkerFigures(
        live=sum(1 for record in records if record.live),
        dead=sum(1 for record in records if not record.live),
        live_by_pool=dict(sorted(live_by_pool.items())),
        workers=[
            WorkerMetrics(
                id=record.worker_id,
                pools=list(record.pools),
                state=record.state,
                in_flight=record.in_flight,
                handled=record.handled,
                heartbeat_age_seconds=_heartbeat_age(record, now),
            )
            for record in records
        ],
    )


def _heartbeat_age(record: WorkerRecord, now: float) -> float:
    return round(max(0.0, now - record.last_heartbeat.timestamp()), 3)


async def metrics_snapshot(container: ServiceContainer) -> MetricsSnapshot:
    """Y2: the orchestrator's counters plus lineage, storage and worker figures."""
    try:
        workers: WorkerFigures | None = worker_figures(
            await container.cluster.workers.records(),
            now=time.time(),
            pools_needed=pools_in_use(container.executions.manager),
        )
    except FactflowError:
        workers = None
    domain = domain_metrics(container.executions.manager)
    recorder = container.lineage.recorder
    return MetricsSnapshot(
        timestamp=utc_now(),
        uptime_seconds=container.uptime_seconds,
        executions=ExecutionCounters(**_fields(domain.executions)),
        messages=MessageCounters(**_fields(domain.messages)),
        routes=RouteCounters(running=domain.routes.get("running", 0), paused=domain.routes.get("paused", 0)),
        lineage=LineageCounters(
            buffered=recorder.buffered, written_total=recorder.written_total, dropped_total=recorder.dropped_total
        ),
        storage=StorageCounters(
            writes_total=domain.storage.writes_total, write_failures_total=domain.storage.write_failures_total
        ),
        workers=workers,
    )


def _fields(value: object) -> dict[str, int]:
    return {name: int(number) for name, number in asdict(value).items()}  # type: ignore[call-overload]


def engine_sample(container: ServiceContainer) -> EngineMetricsSample:
    """Everything Prometheus shows about the engine, from one `DomainMetrics` snapshot."""
    domain: DomainMetrics = domain_metrics(container.executions.manager)
    routes = set(domain.route_counters) | set(domain.route_paused) | set(domain.route_in_flight)
    route_samples = []
    adapter_samples: dict[tuple[str, str], AdapterSample] = {}
    for route_id in sorted(routes):
        counters = domain.route_counters.get(route_id)
        route_samples.append(
            RouteSample(
                route=route_id,
                received=counters.received if counters else 0,
                completed=counters.completed if counters else 0,
                dead_lettered=counters.dead_lettered if counters else 0,
                deduplicated=counters.deduplicated if counters else 0,
                in_flight=domain.route_in_flight.get(route_id, 0),
                paused=domain.route_paused.get(route_id, False),
                concurrency=domain.route_concurrency.get(route_id, 0),
            )
        )
        if counters is None:
            continue
        adapters = set(counters.failed_by_adapter) | set(counters.retried_by_adapter) | set(counters.durations)
        for adapter in sorted(adapters):
            histogram = counters.durations.get(adapter)
            adapter_samples[(route_id, adapter)] = AdapterSample(
                route=route_id,
                adapter=adapter,
                failed=counters.failed_by_adapter.get(adapter, 0),
                retried=counters.retried_by_adapter.get(adapter, 0),
                duration_buckets=histogram.cumulative() if histogram else (),
                duration_sum=histogram.sum if histogram else 0.0,
            )
    for route_id, breaker in domain.circuit_breakers:
        key = (route_id, breaker.adapter_name)
        current = adapter_samples.get(key) or AdapterSample(route=route_id, adapter=breaker.adapter_name)
        worst = _worse_breaker(current.breaker_state, breaker.state)
        adapter_samples[key] = AdapterSample(
            route=current.route,
            adapter=current.adapter,
            failed=current.failed,
            retried=current.retried,
            breaker_state=worst,
            duration_buckets=current.duration_buckets,
            duration_sum=current.duration_sum,
        )
    recorder = container.lineage.recorder
    # The records of the last heartbeat: a scrape runs outside the event loop and cannot read Redis.
    records = container.cluster.workers.cached_records()
    now = time.time()
    figures = worker_figures(records, now=now, pools_needed=pools_in_use(container.executions.manager))
    return EngineMetricsSample(
        routes=route_samples,
        adapters=[adapter_samples[key] for key in sorted(adapter_samples)],
        executions_running=domain.executions.running,
        executions_started=dict(domain.executions_started_by_source),
        lineage_dropped_total=recorder.dropped_total,
        lineage_buffer_size=recorder.buffered,
        storage_writes_ok=domain.storage.writes_total,
        storage_writes_error=domain.storage.write_failures_total,
        workers_live_by_pool=figures.live_by_pool,
        workers=[
            WorkerSample(
                worker=worker.id,
                in_flight=worker.in_flight,
                handled=worker.handled,
                heartbeat_age_seconds=worker.heartbeat_age_seconds,
            )
            for worker in figures.workers
        ],
    )


_BREAKER_RANK = {None: -1, "closed": 0, "half_open": 1, "open": 2}


def _worse_breaker(current: str | None, candidate: str) -> str:
    """Several executions may run the same route: show the worst breaker state."""
    return candidate if _BREAKER_RANK.get(candidate, 0) > _BREAKER_RANK.get(current, -1) else current or candidate
