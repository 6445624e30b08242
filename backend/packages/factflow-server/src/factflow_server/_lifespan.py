"""Start-up (docs/guides/deployment.md): build the service container step by step, unwinding on failure.

Steps, in order: settings are logged → database (retry ≤ 60 s) → start-up lock → migrations →
queue and storage (retry ≤ 60 s) → adapter discovery → shipped pipelines → pause flags →
lineage recorder and manager → recovery → janitor → lineage retention → worker registry (the local
worker registered). Each started component registers its
close on the container's exit stack, so shutdown runs in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from factflow_engine.config import PipelineConfigLoader, configure_validation
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import OrchestratorManager, RuntimeOptions
from factflow_execution import (
    ExecutionEventHub,
    ExecutionEventStreamer,
    ExecutionService,
    PipelineConfigRepository,
    PipelineConfigService,
    PipelineExecutionRepository,
    RoutePauseRepository,
    StorageEventStreamer,
)
from factflow_infra.database import (
    acquire_server_lock,
    create_database_engine,
    create_session_factory,
    is_sqlite,
    ping_database,
    run_migrations,
)
from factflow_infra.queue import RedisStreamsQueueProvider, create_queue_provider
from factflow_infra.storage import create_storage_provider
from factflow_lineage import LineageRecorder, LineageRepository
from factflow_replay import RecoveryManager, Reinjector, ReplayService

from ._container import DrainStep, ServiceContainer
from ._janitor import QueueJanitor
from ._observe import engine_sample, install_probes
from ._retention import LineageRetention
from ._retry import retry_startup_step
from ._runtime import ServerRuntime
from ._settings import settings_summary
from ._shipped import register_shipped_pipelines
from ._version import SERVER_VERSION
from ._workers import build_worker_monitor

__all__ = ("build_container",)

logger = logging.getLogger(__name__)


async def build_container(runtime: ServerRuntime) -> ServiceContainer:
    """Run the start-up steps in order and return the running container.

    Any failure closes what was already started and propagates (the server exits non-zero).
    """
    settings = runtime.settings
    mode = " (embedded)" if runtime.embedded else ""
    logger.info("effective settings%s: %s", mode, settings_summary(settings))
    assert settings.database_url and settings.queue_url and settings.storage_uri, "backend URLs are resolved first"
    stack = contextlib.AsyncExitStack()
    stop = runtime.stop_requested
    step = "settings"
    try:
        # 3. database, with retry
        step = "database"
        engine = create_database_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        await retry_startup_step("database", lambda: ping_database(engine, timeout_seconds=5), stop=stop)
        session_factory = create_session_factory(engine)
        # 4. the start-up lock; 5. migrations (SQLite always, PostgreSQL unless disabled)
        step = "lock and migrations"
        lock = await (
            acquire_server_lock(engine)
            if runtime.lock_key is None
            else acquire_server_lock(engine, lock_key=runtime.lock_key)
        )
        stack.push_async_callback(lock.release)
        if is_sqlite(engine) or settings.db_auto_migrate:
            revision = await run_migrations(engine)
            logger.info("database schema at revision %s", revision)
        # 6. queue and storage, with retry
        step = "queue and storage"
        queue = create_queue_provider(settings.queue_url, settings=settings)
        stack.push_async_callback(queue.close)
        await retry_startup_step("queue", queue.connect, stop=stop)
        storage = create_storage_provider(settings.storage_uri, settings)
        await retry_startup_step("storage", storage.start, stop=stop)
        stack.push_async_callback(storage.shutdown)
        # 7. adapters
        step = "adapter discovery"
        registry = await asyncio.to_thread(lambda: ValidatingAdapterRegistry().auto_discover_and_register())
        logger.info("discovered %d adapter types: %s", len(registry.types()), ", ".join(registry.types()))
        # 8. shipped pipelines
        step = "shipped pipelines"
        configure_validation(settings.config_validator_strict)
        loader = PipelineConfigLoader(registry)
        config_repository = PipelineConfigRepository(session_factory)
        await register_shipped_pipelines(
            settings.pipelines_dir,
            loader=loader,
            repository=config_repository,
            strict=settings.config_validator_strict,
        )
        # 9. pause flags; 10. lineage recorder and manager
        step = "lineage recorder and manager"
        pause_repository = RoutePauseRepository(session_factory)
        lineage_repository = LineageRepository(session_factory)
        recorder = LineageRecorder(
            settings.database_url,
            buffer_size=settings.lineage_buffer_size,
            batch_size=settings.lineage_batch_size,
            flush_interval_ms=settings.lineage_flush_interval_ms,
        )
        await recorder.start()
        # Step 5 of shutdown: flush what is still buffered (10 s), after the manager stopped.
        stack.push_async_callback(recorder.shutdown)
        hub = ExecutionEventHub()
        stack.push_async_callback(hub.shutdown)
        execution_repository = PipelineExecutionRepository(session_factory)
        # Re-injects lost messages when an execution stalls; recovery uses it too.
        reinjector = Reinjector(executions=execution_repository, lineage=lineage_repository, recorder=recorder)
        manager = OrchestratorManager(
            queue=queue,
            storage=storage,
            adapters=registry,
            lineage=recorder,
            lineage_lookup=lineage_repository.rows_for_message,
            events=hub,
            pause_store=pause_repository,
            max_concurrent_executions=settings.max_concurrent_executions,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            options=RuntimeOptions(
                max_message_bytes=settings.max_message_bytes,
                stall_check_interval_seconds=settings.stall_check_interval_seconds,
                stall_timeout_seconds=settings.stall_timeout_seconds,
            ),
            reconciler=reinjector,
        )
        paused = await manager.load_paused_routes()
        if paused:
            logger.info("paused routes: %s", ", ".join(sorted(paused)))
        config_service = PipelineConfigService(config_repository, loader)
        execution_service = ExecutionService(
            configs=config_service,
            executions=execution_repository,
            manager=manager,
            hub=hub,
            lineage=lineage_repository,
            recorder=recorder,
            pauses=pause_repository,
        )
        execution_service.replay_coordinator = ReplayService(service=execution_service, storage=storage)
        # 11. recovery, before the first request
        step = "recovery"
        recovery = RecoveryManager(
            service=execution_service,
            manager=manager,
            queue=queue,
            storage=storage,
            adapters=registry,
            reinjector=reinjector,
            enabled=settings.recovery_enabled,
            max_attempts=settings.recovery_max_attempts,
        )
        report = await recovery.recover_all()
        if report.interrupted or report.resumed or report.backlog or report.recovery_failed:
            logger.info(
                "recovery: %d interrupted, %d resumed, %d waiting for a slot, %d failed",
                len(report.interrupted),
                len(report.resumed),
                len(report.backlog),
                len(report.recovery_failed),
            )
        # 12. janitor
        step = "janitor"
        janitor = QueueJanitor(
            queue=queue,
            sessions=session_factory,
            executions=execution_repository,
            queue_retention_seconds=settings.queue_retention_seconds,
            dlq_retention_seconds=settings.dlq_retention_seconds,
        )
        janitor.start()
        stack.push_async_callback(janitor.shutdown)
        # 13. lineage retention
        step = "lineage retention"
        lineage_retention = LineageRetention(
            sessions=session_factory,
            executions=execution_repository,
            lineage=lineage_repository,
            retention_days=settings.lineage_retention_days,
            interval_seconds=settings.lineage_retention_interval_seconds,
        )
        lineage_retention.start()
        stack.push_async_callback(lineage_retention.shutdown)
        # 14. worker membership: the local worker's registration and heartbeat
        step = "worker registry"
        workers = build_worker_monitor(
            settings,
            embedded=runtime.embedded,
            manager=manager,
            version=SERVER_VERSION,
            worker_id=queue.consumer_name if isinstance(queue, RedisStreamsQueueProvider) else None,
        )
        stack.push_async_callback(workers.shutdown)
        await retry_startup_step("worker registry", workers.start, stop=stop)
        execution_service.route_workers = workers

        container = ServiceContainer(
            settings=settings,
            embedded=runtime.embedded,
            metrics=runtime.metrics,
            exit_stack=stack,
            database=engine,
            session_factory=session_factory,
            server_lock=lock,
            queue=queue,
            storage=storage,
            registry=registry,
            config_loader=loader,
            config_repository=config_repository,
            pause_repository=pause_repository,
            execution_repository=execution_repository,
            lineage_repository=lineage_repository,
            lineage_recorder=recorder,
            event_hub=hub,
            manager=manager,
            config_service=config_service,
            execution_service=execution_service,
            execution_streamer=ExecutionEventStreamer(hub, execution_service),
            storage_streamer=StorageEventStreamer(hub, execution_service),
            janitor=janitor,
            recovery=recovery,
            lineage_retention=lineage_retention,
            workers=workers,
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


def _drain_steps(container: ServiceContainer) -> list[tuple[str, DrainStep]]:
    """Shutdown phase one (docs/guides/deployment.md)."""

    async def mark_draining() -> None:
        await container.workers.begin_draining()

    async def stop_janitor() -> None:
        await container.janitor.shutdown()
        await container.lineage_retention.shutdown()

    async def stop_recovery() -> None:
        # Backlog executions waiting for a slot stay `interrupted` for the next start.
        await container.recovery.shutdown()

    async def stop_executions() -> None:
        # Executions finishing from now on end their streams with `shutdown`.
        container.event_hub.begin_shutdown()
        await container.manager.shutdown(container.settings.shutdown_grace_seconds)

    async def end_streams() -> None:
        await container.event_hub.shutdown()

    return [
        ("mark the local worker draining", mark_draining),
        ("stop janitor", stop_janitor),
        ("stop recovery backlog", stop_recovery),
        ("stop executions", stop_executions),
        ("end streams", end_streams),
    ]
