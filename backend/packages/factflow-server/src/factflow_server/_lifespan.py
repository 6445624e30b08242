"""Start-up (docs/guides/deployment.md): open the back ends, compose the services, start them in order.

Steps, in order: settings are logged → back ends (`open_backends`: database with retry ≤ 60 s,
start-up lock, migrations, queue and storage with retry ≤ 60 s) → adapter discovery → shipped
pipelines → lineage recorder → the runtime graph (`compose_runtime`) and its pause flags →
recovery → janitor → lineage retention → worker registry (the local worker registered). Every
started component registers its close on the container's exit stack, so shutdown runs in
reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from factflow_engine.config import PipelineConfigLoader, configure_validation
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import EngineLimits, EngineWiring, OrchestratorManager
from factflow_execution import ExecutionEventStreamer, ExecutionStores, StorageEventStreamer
from factflow_foundation import FactflowSettings
from factflow_infra.queue import RedisStreamsQueueProvider
from factflow_infra.workers import RedisRequestRelay
from factflow_lineage import LineageRecorder
from factflow_replay import RuntimeServices, compose_runtime

from ._backends import Backends, open_backends
from ._container import Cluster, DrainStep, Executions, LineageServices, Pipelines, ServiceContainer
from ._event_sharing import share_events
from ._janitor import QueueJanitor
from ._leadership import RETRY_SECONDS, Leadership
from ._observe import engine_sample, install_probes
from ._pools import ExecutionPromotion, WorkerPools, wire_worker_pools
from ._relay import answer_relayed
from ._retention import LineageRetention
from ._retry import retry_startup_step
from ._runtime import ServerRuntime
from ._settings import settings_summary
from ._shipped import register_shipped_pipelines
from ._version import SERVER_VERSION
from ._workers import WorkerMonitor, build_worker_monitor

__all__ = ("build_container", "compose")

logger = logging.getLogger(__name__)


def compose(
    backends: Backends,
    settings: FactflowSettings,
    *,
    stores: ExecutionStores,
    registry: ValidatingAdapterRegistry,
    loader: PipelineConfigLoader,
    recorder: LineageRecorder,
    workers: Callable[[OrchestratorManager], WorkerMonitor] | None = None,
    pools: WorkerPools | None = None,
) -> RuntimeServices:
    """The server's runtime graph over its back ends (no I/O); `workers` builds the worker monitor.

    `pools` (Redis only) places executions' routes on worker processes and counts shared ones
    from the queue.
    """
    return compose_runtime(
        engine=EngineWiring(
            queue=backends.queue,
            storage=backends.storage,
            adapters=registry,
            limits=EngineLimits.from_settings(settings),
            shared_state=pools.shared_state if pools is not None else None,
            placement=pools.placement if pools is not None else None,
        ),
        stores=stores,
        loader=loader,
        recorder=recorder,
        recovery_enabled=settings.recovery_enabled,
        recovery_max_attempts=settings.recovery_max_attempts,
        route_workers=workers,
    )


async def build_container(runtime: ServerRuntime) -> ServiceContainer:
    """Run the start-up steps in order and return the running container.

    Any failure closes what was already started and propagates (the server exits non-zero).
    """
    settings = runtime.settings
    mode = " (embedded)" if runtime.embedded else ""
    logger.info("effective settings%s: %s", mode, settings_summary(settings))
    stack = contextlib.AsyncExitStack()
    step = "settings"

    def begin(name: str) -> None:
        nonlocal step
        step = name

    try:
        # 3.–6. database, lock, migrations, queue and storage
        backends = await stack.enter_async_context(
            open_backends(
                settings,
                stop=runtime.stop_requested,
                lock_key=runtime.lock_key,
                on_step=begin,
                standby=not runtime.embedded,
            )
        )
        relay = None
        if isinstance(backends.queue, RedisStreamsQueueProvider) and settings.queue_url:
            relay = RedisRequestRelay.from_url(settings.queue_url)
            stack.push_async_callback(relay.close)
        leadership = Leadership(
            backends.database,
            lock=backends.lock,
            lock_key=runtime.lock_key,
            leader=backends.lock_holder,
            relay=relay,
        )
        # Released after everything started later stopped (the lock of a standby that took over, too).
        stack.push_async_callback(leadership.release)
        # 7. adapters
        begin("adapter discovery")
        registry = await asyncio.to_thread(lambda: ValidatingAdapterRegistry().auto_discover_and_register())
        logger.info("discovered %d adapter types: %s", len(registry.types()), ", ".join(registry.types()))
        # 8. shipped pipelines
        begin("shipped pipelines")
        configure_validation(settings.config_validator_strict)
        loader = PipelineConfigLoader(registry)
        stores = ExecutionStores.open(backends.sessions)
        await register_shipped_pipelines(
            settings.pipelines_dir,
            loader=loader,
            repository=stores.configs,
            strict=settings.config_validator_strict,
        )
        # 9. pause flags; 10. lineage recorder and manager
        begin("lineage recorder and manager")
        recorder = LineageRecorder(
            backends.database_url,
            buffer_size=settings.lineage_buffer_size,
            batch_size=settings.lineage_batch_size,
            flush_interval_ms=settings.lineage_flush_interval_ms,
        )
        await recorder.start()
        # Step 5 of shutdown: flush what is still buffered (10 s), after the manager stopped.
        stack.push_async_callback(recorder.shutdown)
        queue = backends.queue
        worker_id = queue.consumer_name if isinstance(queue, RedisStreamsQueueProvider) else None

        def worker_monitor(manager: OrchestratorManager) -> WorkerMonitor:
            return build_worker_monitor(
                settings, embedded=runtime.embedded, manager=manager, version=SERVER_VERSION, worker_id=worker_id
            )

        pools = wire_worker_pools(settings, queue, stack)
        services = compose(
            backends,
            settings,
            stores=stores,
            registry=registry,
            loader=loader,
            recorder=recorder,
            workers=worker_monitor,
            pools=pools,
        )
        execution = services.execution
        stack.push_async_callback(execution.hub.shutdown)
        if relay is not None and settings.queue_url and worker_id is not None:
            # Closed before the hub: streams on every server carry the live events of each one's executions.
            stack.push_async_callback(share_events(execution.hub, settings.queue_url, sender=worker_id).close)
        paused = await execution.manager.load_paused_routes()
        if paused:
            logger.info("paused routes: %s", ", ".join(sorted(paused)))
        janitor = QueueJanitor(
            queue=backends.queue,
            sessions=backends.sessions,
            executions=execution.stores.executions,
            queue_retention_seconds=settings.queue_retention_seconds,
            dlq_retention_seconds=settings.dlq_retention_seconds,
        )
        stack.push_async_callback(janitor.shutdown)
        lineage_retention = LineageRetention(
            sessions=backends.sessions,
            executions=execution.stores.executions,
            lineage=execution.stores.lineage,
            retention_days=settings.lineage_retention_days,
            interval_seconds=settings.lineage_retention_interval_seconds,
        )
        stack.push_async_callback(lineage_retention.shutdown)
        workers = execution.route_workers
        assert isinstance(workers, WorkerMonitor)  # built by `worker_monitor` above
        stack.push_async_callback(workers.shutdown)
        if pools is not None:
            # A worker process that appears mid-run joins the executions of its pools running here.
            workers.on_refresh(ExecutionPromotion(execution.manager, own_id=pools.own_id))

        async def lead() -> None:
            # 11. worker membership: the local worker's registration and heartbeat, before recovery
            # re-attaches executions, so a worker joining meanwhile sees this server's consumer as
            # live and leaves its unacked entries alone; 12. recovery, before the first request;
            # 13. janitor; 14. lineage retention
            begin("worker registry")
            await retry_startup_step("worker registry", workers.start, stop=runtime.stop_requested)
            begin("recovery")
            await _recover(services)
            begin("janitor")
            janitor.start()
            begin("lineage retention")
            lineage_retention.start()
            if relay is not None and runtime.app is not None:
                relay.serve(answer_relayed(runtime.app))  # writes that standbys take in

        if leadership.role == "leader":
            await lead()
            leadership.keep_leading()
        else:
            logger.warning(
                "standing by: %s leads; retrying the server lock every %.0f s", leadership.leader, RETRY_SECONDS
            )
            leadership.stand_by(lead)

        container = ServiceContainer(
            settings=settings,
            embedded=runtime.embedded,
            metrics=runtime.metrics,
            exit_stack=stack,
            backends=backends,
            pipelines=Pipelines(
                registry=registry,
                loader=loader,
                configs=execution.stores.configs,
                pauses=execution.stores.pauses,
                service=execution.config_service,
            ),
            executions=Executions(
                service=execution.service,
                repository=execution.stores.executions,
                manager=execution.manager,
                hub=execution.hub,
                streamer=ExecutionEventStreamer(execution.hub, execution.service),
                storage_streamer=StorageEventStreamer(execution.hub, execution.service),
                recovery=services.recovery,
            ),
            lineage=LineageServices(
                repository=execution.stores.lineage, recorder=recorder, retention=lineage_retention
            ),
            cluster=Cluster(leadership=leadership, workers=workers, janitor=janitor),
        )
        container.drain_steps.extend(_drain_steps(container))
        install_probes(container)
        runtime.metrics.attach_engine(lambda: engine_sample(container))
        return container
    except Exception as exc:
        logger.error("start-up failed during %s: %s", step, exc)
        await stack.aclose()
        raise
    except BaseException:
        await stack.aclose()
        raise


async def _recover(services: RuntimeServices) -> None:
    report = await services.recovery.recover_all()
    if report.interrupted or report.resumed or report.backlog or report.recovery_failed:
        logger.info(
            "recovery: %d interrupted, %d resumed, %d waiting for a slot, %d failed",
            len(report.interrupted),
            len(report.resumed),
            len(report.backlog),
            len(report.recovery_failed),
        )


def _drain_steps(container: ServiceContainer) -> list[tuple[str, DrainStep]]:
    """Shutdown phase one (docs/guides/deployment.md)."""
    cluster, executions = container.cluster, container.executions

    async def stop_standing_by() -> None:
        await cluster.leadership.stop_standing_by()

    async def mark_draining() -> None:
        if cluster.leadership.role == "leader":  # a standby registered no local worker
            await cluster.workers.begin_draining()

    async def stop_janitor() -> None:
        await cluster.janitor.shutdown()
        await container.lineage.retention.shutdown()

    async def stop_recovery() -> None:
        # Backlog executions waiting for a slot stay `interrupted` for the next start.
        await executions.recovery.shutdown()

    async def stop_executions() -> None:
        # Executions finishing from now on end their streams with `shutdown`.
        executions.hub.begin_shutdown()
        await executions.manager.shutdown(container.settings.shutdown_grace_seconds)

    async def end_streams() -> None:
        await executions.hub.shutdown()

    return [
        ("stop standing by", stop_standing_by),
        ("mark the local worker draining", mark_draining),
        ("stop janitor", stop_janitor),
        ("stop recovery backlog", stop_recovery),
        ("stop executions", stop_executions),
        ("end streams", end_streams),
    ]
