"""Start-up (runtime.md §8): build the service container step by step, unwinding on failure.

Steps, in order: settings are logged → database (retry ≤ 60 s) → start-up lock → migrations →
queue and storage (retry ≤ 60 s) → adapter discovery → shipped pipelines → pause flags →
lineage recorder and manager → recovery → janitor. Each started component registers its
close on the container's exit stack, so shutdown runs in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from factflow_engine.config import PipelineConfigLoader, configure_validation
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_execution import PipelineConfigRepository, PipelineExecutionRepository, RoutePauseRepository
from factflow_infra.database import (
    acquire_server_lock,
    create_database_engine,
    create_session_factory,
    is_sqlite,
    ping_database,
    run_migrations,
)
from factflow_infra.queue import create_queue_provider
from factflow_infra.storage import create_storage_provider
from factflow_lineage import LineageRepository

from ._container import ServiceContainer
from ._health import ComponentStatus, ProbeResult
from ._retry import retry_startup_step
from ._runtime import ServerRuntime
from ._settings import settings_summary
from ._shipped import register_shipped_pipelines

__all__ = ("build_container",)

logger = logging.getLogger(__name__)

_PROBE_SECONDS = 2.0
# A Redis outage only degrades the server (runtime.md §10): work resumes once it is back.
_QUEUE_STATES: dict[str, ComponentStatus] = {
    "healthy": "healthy",
    "degraded": "degraded",
    "reconnecting": "degraded",
    "stalled": "unhealthy",
}


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
    try:
        # 3. database, with retry
        engine = create_database_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        await retry_startup_step("database", lambda: ping_database(engine, timeout_seconds=5), stop=stop)
        session_factory = create_session_factory(engine)
        # 4. the start-up lock; 5. migrations (SQLite always, PostgreSQL unless disabled)
        lock = await acquire_server_lock(engine)
        stack.push_async_callback(lock.release)
        if is_sqlite(engine) or settings.db_auto_migrate:
            revision = await run_migrations(engine)
            logger.info("database schema at revision %s", revision)
        # 6. queue and storage, with retry
        queue = create_queue_provider(settings.queue_url, settings=settings)
        stack.push_async_callback(queue.close)
        await retry_startup_step("queue", queue.connect, stop=stop)
        storage = create_storage_provider(settings.storage_uri, settings)
        await retry_startup_step("storage", storage.start, stop=stop)
        stack.push_async_callback(storage.shutdown)
        # 7. adapters
        registry = await asyncio.to_thread(lambda: ValidatingAdapterRegistry().auto_discover_and_register())
        logger.info("discovered %d adapter types: %s", len(registry.types()), ", ".join(registry.types()))
        # 8. shipped pipelines
        configure_validation(settings.config_validator_strict)
        loader = PipelineConfigLoader(registry)
        config_repository = PipelineConfigRepository(session_factory)
        await register_shipped_pipelines(
            settings.pipelines_dir,
            loader=loader,
            repository=config_repository,
            strict=settings.config_validator_strict,
        )
        # 9. pause flags
        pause_repository = RoutePauseRepository(session_factory)
        paused = await pause_repository.load_paused()
        if paused:
            logger.info("paused routes: %s", ", ".join(sorted(paused)))

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
            execution_repository=PipelineExecutionRepository(session_factory),
            lineage_repository=LineageRepository(session_factory),
        )
        _install_probes(container)
        return container
    except BaseException:
        await stack.aclose()
        raise


def _install_probes(container: ServiceContainer) -> None:
    async def database() -> ProbeResult:
        await ping_database(container.database, timeout_seconds=_PROBE_SECONDS)
        return ProbeResult("healthy")

    async def storage() -> ProbeResult:
        health = await container.storage.health()
        return ProbeResult(health.status, health.message)

    async def queue() -> ProbeResult:
        health = await container.queue.health()
        return ProbeResult(_QUEUE_STATES[health.health_state], health.message)

    container.probes.update({"database": database, "queue": queue, "storage": storage})
