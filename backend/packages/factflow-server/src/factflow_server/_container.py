"""The service container: every long-lived component of one server, and their shutdown order.

Built once by the lifespan (`_lifespan.build_container`, the one composition root), never stored
in a global. The components come in narrow groups (`Backends`, `Pipelines`, `Executions`,
`LineageServices`, `Cluster`); FastAPI dependencies (`_deps.py`) hand a route only the services
it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

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
from factflow_lineage import LineageRecorder, LineageRepository
from factflow_replay import RecoveryManager

from ._backends import Backends
from ._health import Probe
from ._janitor import QueueJanitor
from ._leadership import Leadership
from ._metrics import ServerMetrics
from ._retention import LineageRetention
from ._workers import WorkerMonitor

__all__ = ("Cluster", "DrainStep", "Executions", "LineageServices", "Pipelines", "ServiceContainer")

logger = logging.getLogger(__name__)

DrainStep = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipelines:
    """Adapters and stored pipeline configs."""

    registry: ValidatingAdapterRegistry
    loader: PipelineConfigLoader
    configs: PipelineConfigRepository
    pauses: RoutePauseRepository
    service: PipelineConfigService


@dataclass(frozen=True, slots=True, kw_only=True)
class Executions:
    """Running and stored executions: start, control, read, follow."""

    service: ExecutionService
    repository: PipelineExecutionRepository
    manager: OrchestratorManager
    hub: ExecutionEventHub
    """The live events of this server's executions."""
    streamer: ExecutionEventStreamer
    storage_streamer: StorageEventStreamer
    recovery: RecoveryManager


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageServices:
    """Lineage rows: read, written, aged out."""

    repository: LineageRepository
    recorder: LineageRecorder
    retention: LineageRetention


@dataclass(frozen=True, slots=True, kw_only=True)
class Cluster:
    """This server among others: leadership, worker processes, queue housekeeping."""

    leadership: Leadership
    """Leader or standby (holds the start-up lock once it leads)."""
    workers: WorkerMonitor
    janitor: QueueJanitor


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
    backends: Backends
    pipelines: Pipelines
    executions: Executions
    lineage: LineageServices
    cluster: Cluster
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
