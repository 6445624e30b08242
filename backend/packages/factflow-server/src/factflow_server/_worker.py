"""`factflow-server worker`: runs the routes of its pools for every running execution (docs/concepts/workers.md).

A worker holds no desired state of its own. PostgreSQL does: every second the worker reads which
executions are `running` (and which of those were asked to cancel) and which routes are paused,
and makes what it runs match. So a worker that starts, or comes back after losing its database or
Redis, picks up every running execution of its pools, lets go of finished and cancelled ones, and
honours a pause set while it was away. Its messages come from the routes' Redis consumer groups,
which it joins under its worker id; the leader (the server) counts and completes executions from
the queues' shared state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from factflow_engine._ports import FinalStatus
from factflow_engine.config import ConfigSnapshot
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import OrchestratorManager, Placement, RuntimeOptions, encode_route_snapshots
from factflow_execution import PipelineExecutionRepository, RoutePauseRepository, views
from factflow_foundation import FactflowError, FactflowSettings
from factflow_infra.database import create_database_engine, create_session_factory, ping_database
from factflow_infra.queue import RedisSharedState, RedisStreamsQueueProvider, create_queue_provider
from factflow_infra.storage import create_storage_provider
from factflow_infra.workers import RedisEventChannel, WorkerRegistry, WorkerRoute, create_worker_registry
from factflow_lineage import LineageRecorder, LineageRepository
from factflow_protocols import ErrorInfo

from ._event_sharing import WorkerEventSink
from ._pools import live_worker_ids, route_pool
from ._retry import retry_startup_step
from ._version import SERVER_VERSION

__all__ = ("WorkerProcess", "scale_concurrency")

logger = logging.getLogger(__name__)

RECONCILE_INTERVAL_SECONDS = 1.0
"""How often a worker compares what it runs with the executions and pauses PostgreSQL holds."""
HEARTBEAT_SECONDS = 1.0
"""Heartbeat period (the registry's TTL is 10 s by default; the contract asks for at most 2 s)."""
SETTLE_TIMEOUT_SECONDS = 30.0
"""How long a worker lets the deliveries it runs end when the leader asks it to settle (lost queue state)."""
_MAX_EXECUTIONS = 10_000
"""A worker takes every running execution of its pools; the server's cap already bounds them."""


def scale_concurrency(snapshot: ConfigSnapshot, routes: Sequence[str], factor: float) -> ConfigSnapshot:
    """`snapshot` with each of `routes`' `inbound.concurrency` multiplied by `factor` (at least 1)."""
    if factor == 1.0:
        return snapshot
    config = snapshot.config
    scaled = dict(config.routes)
    for route_id in routes:
        route = scaled[route_id]
        concurrency = max(1, min(1000, round(route.inbound.concurrency * factor)))
        scaled[route_id] = route.model_copy(
            update={"inbound": route.inbound.model_copy(update={"concurrency": concurrency})}
        )
    return snapshot.model_copy(update={"config": config.model_copy(update={"routes": scaled})})


class _WorkerCallbacks:
    """A worker's part of an execution ends when the leader says so; it reports nothing itself."""

    async def on_started(self, execution_id: str) -> None:
        logger.info("running routes of execution %r", execution_id)

    async def on_stopped(
        self, execution_id: str, status: FinalStatus, error_info: ErrorInfo | None, message_counts: dict[str, int]
    ) -> None:
        logger.info("stopped routes of execution %r", execution_id)


class WorkerProcess:
    """One worker process: registry membership, the reconcile loop, and the route processors.

    Args:
        settings: Effective settings (database, queue, storage, lineage, grace, worker TTL).
        pools: The pools it serves.
        worker_id: Its id (also its consumer name in every group it joins).
        concurrency_scale: Multiplies `inbound.concurrency` of the routes it runs.
        metrics_port: Serve Prometheus text on this port (None: no port).
        on_ready: Called once the worker is registered and reconciling.
    """

    def __init__(
        self,
        settings: FactflowSettings,
        *,
        pools: Sequence[str],
        worker_id: str,
        concurrency_scale: float = 1.0,
        metrics_port: int | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self._on_ready = on_ready
        self.pools = frozenset(pools)
        self.worker_id = worker_id
        self.concurrency_scale = concurrency_scale
        self.metrics_port = metrics_port
        self.stop_requested = asyncio.Event()
        self._draining = False
        self._flushed: set[str] = set()
        self._no_routes_here: set[str] = set()
        self._settled: dict[str, str] = {}
        """The latest settle request served, per execution."""
        self._stage_reporter = f"{worker_id}/{secrets.token_hex(4)}"
        """Names this process's stage counts (a restart under the same id reports beside them)."""
        self._stages_reported: dict[str, tuple[int, int]] = {}

    def request_stop(self) -> None:
        """SIGTERM/SIGINT: stop reading, drain, deregister (`run()` returns)."""
        self.stop_requested.set()

    async def run(self) -> None:
        """Start, serve until `request_stop()`, then stop gracefully."""
        settings = self.settings
        assert settings.database_url and settings.queue_url and settings.storage_uri
        stop = self.stop_requested
        async with contextlib.AsyncExitStack() as stack:
            engine = create_database_engine(settings.database_url)
            stack.push_async_callback(engine.dispose)
            await retry_startup_step("database", lambda: ping_database(engine, timeout_seconds=5), stop=stop)
            sessions = create_session_factory(engine)
            # Unacked messages of a dead worker are claimed once idle this long; a live worker renews
            # its leases every third of it, so only a dead (or frozen) worker's messages qualify.
            lease = min(settings.queue_visibility_timeout_seconds, settings.worker_ttl_seconds)
            queue = create_queue_provider(
                settings.queue_url, settings=settings, visibility_timeout_seconds=lease, consumer=self.worker_id
            )
            assert isinstance(queue, RedisStreamsQueueProvider), "the command refuses memory://"
            stack.push_async_callback(queue.close)
            await retry_startup_step("queue", queue.connect, stop=stop)
            storage = create_storage_provider(settings.storage_uri, settings)
            await retry_startup_step("storage", storage.start, stop=stop)
            stack.push_async_callback(storage.shutdown)
            registry = create_worker_registry(settings.queue_url, ttl_seconds=settings.worker_ttl_seconds)
            stack.push_async_callback(registry.close)
            queue.set_live_consumers(live_worker_ids(registry, own_id=self.worker_id))
            shared = RedisSharedState(queue, live_workers=live_worker_ids(registry, own_id=self.worker_id))
            adapters = await asyncio.to_thread(lambda: ValidatingAdapterRegistry().auto_discover_and_register())
            recorder = LineageRecorder(
                settings.database_url,
                buffer_size=settings.lineage_buffer_size,
                batch_size=settings.lineage_batch_size,
                flush_interval_ms=settings.lineage_flush_interval_ms,
            )
            await recorder.start()
            stack.push_async_callback(recorder.shutdown)
            executions = PipelineExecutionRepository(sessions)
            pauses = RoutePauseRepository(sessions)
            # The stages' events of executions a server's event stream watches go to that server.
            events = RedisEventChannel.from_url(settings.queue_url, sender=self.worker_id)
            events.start()
            stack.push_async_callback(events.close)
            manager = OrchestratorManager(
                queue=queue,
                events=WorkerEventSink(events),
                storage=storage,
                adapters=adapters,
                lineage=recorder,
                lineage_lookup=LineageRepository(sessions).rows_for_message,
                pause_store=pauses,
                max_concurrent_executions=_MAX_EXECUTIONS,
                shutdown_grace_seconds=settings.shutdown_grace_seconds,
                options=RuntimeOptions(max_message_bytes=settings.max_message_bytes),
                shared_state=shared,
                role="worker",
            )
            await registry.register(
                worker_id=self.worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                pools=sorted(self.pools),
                version=SERVER_VERSION,
            )
            logger.info("worker %r serving pools %s", self.worker_id, ", ".join(sorted(self.pools)))
            metrics = self._serve_metrics(manager) if self.metrics_port is not None else None
            heartbeat = asyncio.create_task(self._heartbeat(registry, manager, metrics), name="worker-heartbeat")
            if self._on_ready is not None:
                self._on_ready()
            try:
                while not stop.is_set():
                    try:
                        await self._reconcile(manager, executions, pauses, shared, recorder)
                    except (FactflowError, OSError) as exc:
                        logger.warning("worker reconcile failed (retrying): %s", exc)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(RECONCILE_INTERVAL_SECONDS):
                            await stop.wait()
                started = time.monotonic()
                self._draining = True
                with contextlib.suppress(FactflowError, OSError, KeyError):
                    await registry.heartbeat(self.worker_id, draining=True, routes=self._routes(manager))
                logger.info("worker %r draining (grace %.0f s)", self.worker_id, settings.shutdown_grace_seconds)
                await manager.shutdown(settings.shutdown_grace_seconds)
                await recorder.flush(None, 10.0)
                logger.info("worker %r stopped in %.1f s", self.worker_id, time.monotonic() - started)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
                with contextlib.suppress(FactflowError, OSError):
                    await registry.deregister(self.worker_id)

    # ------------------------------------------------------------------ reconcile

    async def _reconcile(
        self,
        manager: OrchestratorManager,
        executions: PipelineExecutionRepository,
        pauses: RoutePauseRepository,
        shared: RedisSharedState,
        recorder: LineageRecorder,
    ) -> None:
        """Make what runs here match the running executions and pause flags stored in PostgreSQL."""
        running = await executions.running_ids()
        manager.apply_stored_pauses(await pauses.load_paused())
        for execution_id in manager.live_execution_ids():
            if execution_id not in running:
                # Finished (or interrupted by a server shutdown): the leader settles it.
                orchestrator = manager.orchestrator(execution_id)
                if orchestrator is not None:
                    orchestrator.request_stop(self.settings.shutdown_grace_seconds)
            elif running[execution_id]:
                manager.cancel(execution_id)
            else:
                # Again every pass: a Redis restart without persistence forgets who runs the execution.
                await shared.joined(execution_id, self.worker_id)
                await self._report_stages(manager, shared, execution_id)
                await self._settle_if_asked(manager, shared, recorder, execution_id)
        for execution_id, cancel_requested in running.items():
            # A cancelled execution's routes stop here first; its lineage is flushed once they did.
            if cancel_requested and manager.is_live(execution_id):
                continue
            if execution_id in self._flushed or execution_id in self._no_routes_here:
                continue
            if (manager.is_live(execution_id) or cancel_requested) and await shared.flush_requested(execution_id):
                # The leader found the execution done (or cancelled it) and computes its stats next.
                await recorder.flush(execution_id, 5.0)
                await self._report_stages(manager, shared, execution_id)  # the leader's last progress
                await shared.flushed(execution_id, self.worker_id)
                self._flushed.add(execution_id)
        self._flushed &= set(running)
        self._stages_reported = {key: counts for key, counts in self._stages_reported.items() if key in running}
        self._settled = {key: token for key, token in self._settled.items() if key in running}
        self._no_routes_here &= set(running)
        for execution_id, cancel_requested in running.items():
            if cancel_requested or manager.is_live(execution_id) or execution_id in self._no_routes_here:
                continue
            if not await shared.is_shared(execution_id):
                continue  # the server runs it alone (or has not placed it yet)
            await self._join(manager, executions, shared, execution_id)

    async def _report_stages(self, manager: OrchestratorManager, shared: RedisSharedState, execution_id: str) -> None:
        """Tell the leader how many stages of the execution ran here (its `execution.progress`), when that changed."""
        orchestrator = manager.orchestrator(execution_id)
        if orchestrator is None:
            return
        counts = (orchestrator.stage_counts.completed, orchestrator.stage_counts.failed)
        if self._stages_reported.get(execution_id) == counts:
            return
        completed, failed = counts
        await shared.report_stages(execution_id, self._stage_reporter, completed=completed, failed=failed)
        self._stages_reported[execution_id] = counts

    async def _settle_if_asked(
        self, manager: OrchestratorManager, shared: RedisSharedState, recorder: LineageRecorder, execution_id: str
    ) -> None:
        """After lost queue state the leader asks every worker to settle before it re-seeds the execution.

        The deliveries running here now (read from the lost streams) end first and their lineage rows
        are written, so the leader's re-seed sees every message they finished and re-publishes only
        the others: no stage runs twice. Deliveries read later go on meanwhile.
        """
        token = await shared.settle_requested(execution_id)
        if token is None or self._settled.get(execution_id) == token:
            return
        orchestrator = manager.orchestrator(execution_id)
        if orchestrator is not None:
            try:
                async with asyncio.timeout(SETTLE_TIMEOUT_SECONDS):
                    await orchestrator.settle_deliveries()
            except TimeoutError:
                logger.warning(
                    "deliveries of execution %r still run after %.0f s", execution_id, SETTLE_TIMEOUT_SECONDS
                )
        if not await recorder.flush(execution_id, 5.0):
            logger.warning("execution %r: lineage not written yet; settling at a later pass", execution_id)
            return  # the leader waits (bounded) rather than re-seed from lineage that misses rows
        await shared.settled(execution_id, self.worker_id, token)
        self._settled[execution_id] = token
        logger.info("settled execution %r after lost queue state", execution_id)

    async def _join(
        self,
        manager: OrchestratorManager,
        executions: PipelineExecutionRepository,
        shared: RedisSharedState,
        execution_id: str,
    ) -> None:
        execution = await executions.find(execution_id)
        if execution is None or execution.status != "running":
            return
        snapshot = execution.config_snapshot
        routes = [route_id for route_id, route in snapshot.config.routes.items() if route_pool(route) in self.pools]
        if not routes:
            self._no_routes_here.add(execution_id)
            return
        await shared.joined(execution_id, self.worker_id)
        reservation = manager.reserve(execution_id)
        try:
            await manager.start(
                reservation,
                scale_concurrency(snapshot, routes, self.concurrency_scale),
                callbacks=_WorkerCallbacks(),
                skip_init=True,
                config_id=execution.config_id,
                replay_batch_id=execution.replay_batch_id,
                placement=Placement(routes=frozenset(routes), shared=True),
            )
        except FactflowError as exc:
            logger.error("could not run the routes of execution %r here: %s", execution_id, exc)

    # ------------------------------------------------------------------ membership and metrics

    def _routes(self, manager: OrchestratorManager) -> list[WorkerRoute]:
        return [WorkerRoute(execution_id=s.execution_id, route_id=s.route_id) for s in manager.list_routes()]

    def _handled(self, manager: OrchestratorManager) -> int:
        return sum(route.completed + route.dead_lettered for route in manager.metrics_registry.routes.values())

    async def _heartbeat(
        self, registry: WorkerRegistry, manager: OrchestratorManager, metrics: dict[str, Gauge] | None
    ) -> None:
        while True:
            statuses = manager.list_routes()
            in_flight = sum(status.in_flight for status in statuses)
            handled = self._handled(manager)
            try:
                await registry.heartbeat(
                    self.worker_id,
                    draining=self._draining,
                    routes=self._routes(manager),
                    in_flight=in_flight,
                    handled=handled,
                    # The servers merge these into `GET /pipelines/{route_id}/metrics`.
                    metrics=encode_route_snapshots(views.route_snapshots(manager)),
                )
            except (FactflowError, OSError, KeyError) as exc:
                logger.warning("worker heartbeat failed: %s", exc)
            if metrics is not None:
                metrics["routes"].set(len(statuses))
                metrics["in_flight"].set(in_flight)
                metrics["handled"].set(handled)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def _serve_metrics(self, manager: OrchestratorManager) -> dict[str, Gauge]:
        """Prometheus text on `--metrics-port` (`/metrics`): what this worker runs and has handled."""
        registry = CollectorRegistry(auto_describe=True)
        labels = {"worker": self.worker_id}
        gauges = {
            "routes": Gauge("factflow_worker_routes", "Routes this worker runs", ["worker"], registry=registry),
            "in_flight": Gauge(
                "factflow_worker_in_flight", "Deliveries inside adapter chains now", ["worker"], registry=registry
            ),
            "handled": Gauge(
                "factflow_worker_handled", "Deliveries completed or dead-lettered here", ["worker"], registry=registry
            ),
        }
        assert self.metrics_port is not None
        start_http_server(self.metrics_port, registry=registry)
        return {name: gauge.labels(**labels) for name, gauge in gauges.items()}
