"""The server's part in worker membership (docs/guides/scaling.md).

`WorkerMonitor` registers the server's own local worker, renews its heartbeat every 2 s (with its
route figures, so a standby can answer route metrics), keeps a recent copy of every worker's record
for Prometheus (a scrape cannot wait on Redis), answers which live workers serve an execution's
routes (the routes view and health), and reads the route figures live workers published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from factflow_engine.config import DEFAULT_POOL
from factflow_engine.runtime import OrchestratorManager, RouteSnapshot, decode_route_snapshots, encode_route_snapshots
from factflow_execution import PipelineExecution, PipelineExecutionRepository, RouteWorkers, views
from factflow_foundation import FactflowError, FactflowSettings
from factflow_infra.workers import (
    HEARTBEAT_INTERVAL_SECONDS,
    WorkerRecord,
    WorkerRegistry,
    WorkerRoute,
    create_worker_registry,
    default_worker_id,
)

from ._pools import worker_is_live

__all__ = (
    "ActivitySource",
    "LocalWorker",
    "MetricsSource",
    "PoolWait",
    "WorkerActivity",
    "WorkerMonitor",
    "build_worker_monitor",
    "describe_waits",
    "manager_activity",
    "manager_route_figures",
    "pools_in_use",
    "pools_waiting",
)

logger = logging.getLogger(__name__)

_DEREGISTER_SECONDS = 2.0
_RUNNING_SCAN_LIMIT = 1000
"""Running executions the health check looks at (far above any server's execution capacity)."""


@dataclass(frozen=True, slots=True)
class WorkerActivity:
    """What a worker reports in its heartbeat."""

    routes: tuple[WorkerRoute, ...] = ()
    in_flight: int = 0
    handled: int = 0
    draining: bool = False


ActivitySource = Callable[[], WorkerActivity]
"""Returns the local worker's current activity; called at every heartbeat and routes view."""

MetricsSource = Callable[[], str | None]
"""Returns the local worker's route figures as published text (`encode_route_snapshots`); called at
every heartbeat."""


@dataclass(frozen=True, slots=True)
class LocalWorker:
    """The worker inside this server process."""

    worker_id: str
    pools: tuple[str, ...]
    version: str
    host: str
    pid: int

    @classmethod
    def of_this_process(cls, *, worker_id: str, pools: Sequence[str], version: str) -> LocalWorker:
        return cls(worker_id=worker_id, pools=tuple(pools), version=version, host=socket.gethostname(), pid=os.getpid())


def manager_activity(manager: OrchestratorManager, pools: Collection[str]) -> ActivitySource:
    """The local worker's activity as the execution manager knows it.

    Routes: every route processor of a live execution whose pool is one of `pools`; in-flight:
    their deliveries inside an adapter chain; handled: deliveries settled by this process since
    start (every route).
    """
    wanted = frozenset(pools)

    def activity() -> WorkerActivity:
        routes: list[WorkerRoute] = []
        in_flight = 0
        for execution_id in manager.live_execution_ids():
            orchestrator = manager.orchestrator(execution_id)
            if orchestrator is None:
                continue
            snapshot_pools = orchestrator.snapshot.pools()
            for route_id, processor in list(orchestrator.processors.items()):
                if snapshot_pools.get(route_id) in wanted:
                    routes.append(WorkerRoute(execution_id, route_id))
                    in_flight += processor.in_flight
        counters = list(manager.metrics_registry.routes.values())
        handled = sum(counter.completed + counter.failed for counter in counters)
        return WorkerActivity(routes=tuple(routes), in_flight=in_flight, handled=handled)

    return activity


def manager_route_figures(manager: OrchestratorManager) -> MetricsSource:
    """This process's route figures (`views.route_snapshots`), as a heartbeat carries them."""
    return lambda: encode_route_snapshots(views.route_snapshots(manager))


def pools_in_use(manager: OrchestratorManager) -> set[str]:
    """The pools of every route of the executions this server runs (their control part, at least)."""
    pools: set[str] = set()
    for execution_id in manager.live_execution_ids():
        orchestrator = manager.orchestrator(execution_id)
        if orchestrator is not None:
            pools.update(orchestrator.snapshot.pools().values())
    return pools


@dataclass(frozen=True, slots=True)
class PoolWait:
    """A route of a running execution whose pool has no live worker."""

    pool: str
    execution_id: str
    route_id: str


def pools_waiting(executions: Iterable[PipelineExecution], live_pools: Collection[str]) -> list[PoolWait]:
    """Every route of `executions` (running ones) whose pool is not in `live_pools`."""
    waits = []
    for execution in executions:
        if execution.status != "running":
            continue
        for route_id, pool in execution.config_snapshot.pools().items():
            if pool not in live_pools:
                waits.append(PoolWait(pool, execution.execution_id, route_id))
    return waits


class WorkerMonitor:
    """Registers and heartbeats the local worker; reads membership for the API, health and metrics.

    Args:
        registry: The worker registry (memory in embedded mode, Redis in production).
        local_worker: The server's own worker, or None when it runs none (`--no-local-worker`).
        activity: The local worker's activity; replace `activity_source` to feed it from elsewhere.
        route_figures: The local worker's route figures, published with its heartbeat.
        interval_seconds: Heartbeat (and cache refresh) period.
    """

    def __init__(
        self,
        registry: WorkerRegistry,
        *,
        local_worker: LocalWorker | None,
        activity: ActivitySource | None = None,
        route_figures: MetricsSource | None = None,
        interval_seconds: float = HEARTBEAT_INTERVAL_SECONDS,
    ) -> None:
        self.registry = registry
        self.local_worker = local_worker
        self.activity_source: ActivitySource = activity or WorkerActivity
        """Hook: what the local worker reports (routes, in_flight, handled, draining)."""
        self.route_figures = route_figures
        self.interval_seconds = interval_seconds
        self._records: tuple[WorkerRecord, ...] = ()
        self._records_read_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._draining = False
        self._listeners: list[Callable[[Sequence[WorkerRecord]], None]] = []

    @property
    def local_worker_id(self) -> str | None:
        return self.local_worker.worker_id if self.local_worker is not None else None

    def on_refresh(self, listener: Callable[[Sequence[WorkerRecord]], None]) -> None:
        """Call `listener` with every fresh reading of the records (each heartbeat); it must not block.

        A listener that raises is logged and kept.
        """
        self._listeners.append(listener)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Register the local worker and start the heartbeat loop; idempotent.

        Raises:
            QueueError: the registry cannot be reached (start-up stops, like a queue outage).
        """
        if self._task is not None:
            return
        local = self.local_worker
        if local is not None:
            await self.registry.register(
                worker_id=local.worker_id, host=local.host, pid=local.pid, pools=local.pools, version=local.version
            )
            logger.info("local worker %r registered for pools %s", local.worker_id, ", ".join(local.pools))
        await self._refresh()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="server:worker-heartbeat")

    async def shutdown(self) -> None:
        """Stop the loop, then deregister the local worker (bounded, best effort); idempotent."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        local = self.local_worker
        if local is not None:
            try:
                async with asyncio.timeout(_DEREGISTER_SECONDS):
                    await self.registry.deregister(local.worker_id)
            except (FactflowError, TimeoutError) as exc:
                logger.warning("could not deregister local worker %r (it will show as dead): %s", local.worker_id, exc)
        await self.registry.close()

    async def begin_draining(self) -> None:
        """Report the local worker `draining` from now on (the server is stopping); one heartbeat at once."""
        self._draining = True
        try:
            async with asyncio.timeout(_DEREGISTER_SECONDS):
                await self.beat()
        except (FactflowError, TimeoutError) as exc:
            logger.debug("draining heartbeat failed: %s", exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.beat()
            except FactflowError as exc:
                if not self._failing:
                    logger.warning("worker heartbeat failed, retrying every %.0f s: %s", self.interval_seconds, exc)
                self._failing = True
            else:
                if self._failing:
                    logger.info("worker heartbeat renewed again")
                self._failing = False

    async def beat(self) -> None:
        """One heartbeat of the local worker and one refresh of the cached records."""
        local = self.local_worker
        if local is not None:
            activity = self.activity_source()
            await self.registry.heartbeat(
                local.worker_id,
                draining=activity.draining or self._draining,
                routes=activity.routes,
                in_flight=activity.in_flight,
                handled=activity.handled,
                metrics=self._route_figures(),
            )
        await self._refresh()

    def _route_figures(self) -> str | None:
        if self.route_figures is None:
            return None
        try:
            return self.route_figures()
        except Exception:  # metrics never stop a heartbeat
            logger.exception("could not build the local worker's route figures")
            return None

    async def _refresh(self) -> None:
        records = await self.registry.list()
        self._records = tuple(records)
        self._records_read_at = time.time()
        for listener in self._listeners:
            try:
                listener(self._records)
            except Exception:
                logger.exception("a listener of the worker registry failed")

    # ------------------------------------------------------------------ reads
    def cached_records(self) -> tuple[WorkerRecord, ...]:
        """The records as of the last heartbeat (for Prometheus, which must not wait on Redis)."""
        return self._records

    async def records(self) -> list[WorkerRecord]:
        """Every listed worker now (running, draining, recently dead); refreshes the cache.

        Raises:
            QueueError: the registry cannot be reached.
        """
        await self._refresh()
        return list(self._records)

    async def get(self, worker_id: str) -> WorkerRecord | None:
        """One worker now, or None."""
        return await self.registry.get(worker_id)

    async def live_workers_by_pool(self) -> dict[str, list[str]]:
        """Live worker ids per pool, by the liveness placement and consumer claims use.

        Live by heartbeat, and not a record an earlier process of this host left behind.
        """
        by_pool: dict[str, list[str]] = {}
        for record in await self.registry.list():
            if worker_is_live(record, own_id=self.local_worker_id):
                for pool in record.pools:
                    by_pool.setdefault(pool, []).append(record.worker_id)
        return by_pool

    async def live_pools(self) -> frozenset[str]:
        """Pools with a live worker; the local worker's always count while the server runs."""
        by_pool = await self.live_workers_by_pool()
        local = set(self.local_worker.pools) if self.local_worker is not None else set()
        return frozenset(by_pool) | local

    async def route_snapshots(self, route_id: str) -> list[RouteSnapshot]:
        """`route_id`'s figures as every other live worker last published them (this server's own excluded).

        Live by the liveness placement and health use; a dead worker's figures drop out. Empty when
        the registry is unreachable (the answer is then this server's own figures).
        """
        local_id = self.local_worker_id
        try:
            records = await self.records()
            live = [
                record.worker_id
                for record in records
                if record.worker_id != local_id and worker_is_live(record, own_id=local_id)
            ]
            published = await self.registry.metrics(live)
        except FactflowError as exc:
            logger.debug("worker registry unreachable for route metrics: %s", exc)
            return []
        snapshots: list[RouteSnapshot] = []
        for worker_id, text in sorted(published.items()):
            try:
                snapshots.extend(snapshot for snapshot in decode_route_snapshots(text) if snapshot.route_id == route_id)
            except ValueError as exc:
                logger.warning("skipping the route figures of worker %r: %s", worker_id, exc)
        return snapshots

    async def route_workers(self, execution_id: str) -> RouteWorkers | None:
        """Implements `RouteWorkerLookup`: the live workers of each route of `execution_id`.

        The local worker's routes are read from `activity_source` now rather than from its last
        heartbeat, so a route it just started shows at once. None when the registry is unreachable.
        """
        try:
            records = await self.records()
        except FactflowError as exc:
            logger.debug("worker registry unreachable for the routes view: %s", exc)
            return None
        by_route: dict[str, list[str]] = {}
        live_pools: set[str] = set()
        local_id = self.local_worker_id
        for record in records:
            if record.worker_id == local_id or not worker_is_live(record, own_id=local_id):
                continue
            live_pools.update(record.pools)
            for route in record.routes:
                if route.execution_id == execution_id:
                    by_route.setdefault(route.route_id, []).append(record.worker_id)
        if self.local_worker is not None:
            live_pools.update(self.local_worker.pools)
            for route in self.activity_source().routes:
                if route.execution_id == execution_id:
                    by_route.setdefault(route.route_id, []).append(self.local_worker.worker_id)
        return RouteWorkers(by_route=by_route, live_pools=frozenset(live_pools))

    async def waiting_routes(self, executions: PipelineExecutionRepository) -> tuple[dict[str, int], list[PoolWait]]:
        """Live workers per pool, and the routes of running executions whose pool has none (health).

        Raises:
            QueueError: the registry cannot be reached.
            ServiceUnavailableError: the database cannot be reached.
        """
        by_pool = {pool: len(ids) for pool, ids in (await self.live_workers_by_pool()).items()}
        page = await executions.list(status="running", limit=_RUNNING_SCAN_LIMIT)
        return by_pool, pools_waiting(page.items, set(by_pool) | set(self._local_pools()))

    def _local_pools(self) -> tuple[str, ...]:
        return self.local_worker.pools if self.local_worker is not None else ()


def describe_waits(waits: Sequence[PoolWait]) -> str:
    """`pool 'gpu' has no live worker (2 routes of 1 running execution wait)`, one clause per pool."""
    by_pool: dict[str, list[PoolWait]] = {}
    for wait in waits:
        by_pool.setdefault(wait.pool, []).append(wait)
    clauses = []
    for pool, pool_waits in sorted(by_pool.items()):
        executions = {wait.execution_id for wait in pool_waits}
        routes = len(pool_waits)
        clauses.append(
            f"pool {pool!r} has no live worker ({routes} route{'s' if routes != 1 else ''} of "
            f"{len(executions)} running execution{'s' if len(executions) != 1 else ''} wait)"
        )
    return "; ".join(clauses)


def build_worker_monitor(
    settings: FactflowSettings,
    *,
    embedded: bool,
    manager: OrchestratorManager,
    version: str,
    worker_id: str | None = None,
) -> WorkerMonitor:
    """The monitor for this server, not started.

    The registry lives beside the queue (memory for `memory://`, else the queue's Redis). The
    local worker runs the `default` pool unless `FACTFLOW_LOCAL_WORKER` is off; embedded mode always
    has it, since nothing else could run its routes. Its id is `worker_id` (the queue's consumer
    name, so the local worker and the server's consumer are one identity), else `FACTFLOW_WORKER_ID`
    or `<host>:<pid>:<boot>`.
    """
    assert settings.queue_url, "backend URLs are resolved first"
    registry = create_worker_registry(settings.queue_url, ttl_seconds=settings.worker_ttl_seconds)
    local: LocalWorker | None = None
    if embedded or settings.local_worker:
        local = LocalWorker.of_this_process(
            worker_id=worker_id or default_worker_id(settings.worker_id), pools=(DEFAULT_POOL,), version=version
        )
    activity = manager_activity(manager, local.pools) if local is not None else None
    # Embedded mode: no other process reads the figures.
    figures = manager_route_figures(manager) if local is not None and not embedded else None
    # Three heartbeats per TTL at least, so one late renewal never reads as a death.
    interval = min(HEARTBEAT_INTERVAL_SECONDS, settings.worker_ttl_seconds / 3)
    return WorkerMonitor(
        registry, local_worker=local, activity=activity, route_figures=figures, interval_seconds=interval
    )
