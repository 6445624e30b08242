"""The service container: every long-lived component of one server, and their shutdown order.

Built once by the lifespan (`_lifespan.build_container`), handed to route handlers through
FastAPI dependencies (`_deps.py`), never stored in a global.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factflow_engine.config import PipelineConfigLoader
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import OrchestratorManager
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
from factflow_foundation import FactflowSettings, utc_now
from factflow_infra.queue import MemoryQueueProvider, RedisStreamsQueueProvider
from factflow_infra.storage import StorageProvider
from factflow_lineage import LineageRecorder, LineageRepository
from factflow_replay import RecoveryManager

from ._health import Probe
from ._janitor import QueueJanitor
from ._leadership import Leadership
from ._metrics import ServerMetrics
from ._retention import LineageRetention
from ._workers import WorkerMonitor

__all__ = ("DrainStep", "ServiceContainer")

logger = logging.getLogger(__name__)

DrainStep = Callable[[], Awaitable[None]]


@dataclass(slots=True, kw_only=True)
class ServiceContainer:
    """The running server's components.

    Shutdown has two phases. `drain()` (started by the signal handler as soon as SIGINT or
    SIGTERM arrives, so open SSE streams can end while uvicorn waits for connections) stops the
    janitor and the manager: processors stop reading, running invocations get the grace
    period, live executions become `interrupted` and their streams get `stream.end`
    (`shutdown`). `aclose()` (lifespan exit) awaits the drain, then unwinds the exit stack in
    reverse start-up order: lineage flush, providers, lock, database.
    """

    settings: FactflowSettings
    embedded: bool
    metrics: ServerMetrics
    exit_stack: contextlib.AsyncExitStack
    database: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    leadership: Leadership
    """Leader or standby (holds the start-up lock once it leads)."""
    queue: MemoryQueueProvider | RedisStreamsQueueProvider
    storage: StorageProvider
    registry: ValidatingAdapterRegistry
    config_loader: PipelineConfigLoader
    config_repository: PipelineConfigRepository
    pause_repository: RoutePauseRepository
    execution_repository: PipelineExecutionRepository
    lineage_repository: LineageRepository
    lineage_recorder: LineageRecorder
    event_hub: ExecutionEventHub
    manager: OrchestratorManager
    config_service: PipelineConfigService
    execution_service: ExecutionService
    execution_streamer: ExecutionEventStreamer
    storage_streamer: StorageEventStreamer
    janitor: QueueJanitor
    recovery: RecoveryManager
    lineage_retention: LineageRetention
    workers: WorkerMonitor
    started_at: datetime = field(default_factory=utc_now)
    started_monotonic: float = field(default_factory=time.monotonic)
    probes: dict[str, Probe] = field(default_factory=dict)
    drain_steps: list[tuple[str, DrainStep]] = field(default_factory=list)
    _drain_task: asyncio.Task[None] | None = None
    _closed: bool = False

    @property
    def uptime_seconds(self) -> float:
        return round(time.monotonic() - self.started_monotonic, 3)

    @property
    def stopping(self) -> bool:
        """True once shutdown has begun."""
        return self._drain_task is not None

    def request_shutdown(self) -> None:
        """Begin draining now (idempotent; safe to call from a signal handler in the loop)."""
        if self._drain_task is None:
            self._drain_task = asyncio.get_running_loop().create_task(self._drain(), name="server:drain")

    async def _drain(self) -> None:
        for name, step in self.drain_steps:
            try:
                await step()
            except Exception:
                logger.exception("shutdown step %r failed", name)

    async def drain(self) -> None:
        """Stop intake and running executions (phase one); idempotent."""
        self.request_shutdown()
        assert self._drain_task is not None
        await asyncio.shield(self._drain_task)

    async def aclose(self) -> None:
        """Drain, then close everything in reverse start-up order; idempotent."""
        if self._closed:
            return
        self._closed = True
        started = time.monotonic()
        await self.drain()
        await self.exit_stack.aclose()
        logger.info("server stopped in %.2f s after %.1f s of uptime", time.monotonic() - started, self.uptime_seconds)
