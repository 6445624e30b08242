"""The execution layer's composition root: one place builds its object graph.

`ExecutionStores.open(sessions)` makes the repositories; `ExecutionServices.build(...)` makes the
rest in dependency order (event hub, engine manager, config service, stats, status callbacks,
launcher, execution service) on top of the engine tier's `EngineWiring`. The server, the replay
layer's `compose_runtime` and the test suites call these instead of wiring by hand.

The graph has no cycle: replay needs the launcher and the config service, and the execution
service needs replay, so `build` takes a replay *factory* and calls it between the two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_engine.config import PipelineConfigLoader
from factflow_engine.runtime import EngineWiring, OrchestratorManager
from factflow_lineage import LineageRecorder, LineageRepository

from ._calculator import StatsCalculator
from ._callbacks import ExecutionStatusCallbackAdapter
from ._config_repository import PipelineConfigRepository
from ._config_service import PipelineConfigService
from ._execution_repository import PipelineExecutionRepository
from ._hub import ExecutionEventHub
from ._launcher import ExecutionLauncher
from ._pause_repository import RoutePauseRepository
from ._ports import ExecutionManager, ReplayCoordinator
from ._route_workers import RouteWorkerLookup
from ._service import ExecutionService
from ._snapshot import ENGINE_VERSION

__all__ = ("ExecutionServices", "ExecutionStores", "ReplayFactory")

ReplayFactory = Callable[[ExecutionLauncher, PipelineConfigService], ReplayCoordinator]
"""Builds the replay coordinator from the launcher and the config service (factflow-replay)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionStores:
    """The repositories over one database."""

    configs: PipelineConfigRepository
    executions: PipelineExecutionRepository
    pauses: RoutePauseRepository
    lineage: LineageRepository

    @classmethod
    def open(
        cls, sessions: async_sessionmaker[AsyncSession], *, lineage_query_timeout: float | None = None
    ) -> ExecutionStores:
        """Every repository over `sessions` (no I/O)."""
        lineage = (
            LineageRepository(sessions)
            if lineage_query_timeout is None
            else LineageRepository(sessions, query_timeout=lineage_query_timeout)
        )
        return cls(
            configs=PipelineConfigRepository(sessions),
            executions=PipelineExecutionRepository(sessions),
            pauses=RoutePauseRepository(sessions),
            lineage=lineage,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionServices:
    """The execution layer of one process, built by `build`."""

    stores: ExecutionStores
    recorder: LineageRecorder | None
    hub: ExecutionEventHub
    manager: OrchestratorManager
    config_service: PipelineConfigService
    stats: StatsCalculator
    launcher: ExecutionLauncher
    service: ExecutionService
    replay: ReplayCoordinator | None
    route_workers: RouteWorkerLookup | None

    @classmethod
    def build(
        cls,
        *,
        engine: EngineWiring,
        stores: ExecutionStores,
        loader: PipelineConfigLoader,
        recorder: LineageRecorder | None = None,
        hub: ExecutionEventHub | None = None,
        replay: ReplayFactory | None = None,
        manager_view: Callable[[OrchestratorManager], ExecutionManager] | None = None,
        route_workers: Callable[[OrchestratorManager], RouteWorkerLookup] | None = None,
        engine_version: str = ENGINE_VERSION,
    ) -> ExecutionServices:
        """Build the graph (no I/O; load the manager's pause flags before the first start).

        Args:
            engine: Queue, storage, adapters, lineage sink, reconciler and limits of the manager;
                its event sink, pause store and lineage lookup are set here (hub, stores).
            stores: The repositories.
            loader: Validates pipeline YAML against the live adapter registry.
            recorder: The lineage recorder (flushed before stats freeze); it is also the
                manager's lineage sink unless `engine.lineage` names another.
            hub: The event hub (a new one when omitted).
            replay: Builds the replay coordinator; replay is unavailable without it.
            manager_view: What the launcher and the service see of the manager (tests wrap it
                to simulate a crash); the manager itself when omitted.
            route_workers: Builds the routes view's worker lookup from the manager (the server's
                worker monitor).
            engine_version: Recorded in snapshots.
        """
        hub = hub or ExecutionEventHub()
        manager = dataclasses.replace(
            engine,
            lineage=engine.lineage if engine.lineage is not None else recorder,
            lineage_lookup=stores.lineage.rows_for_message,
            events=hub,
            pause_store=stores.pauses,
        ).build_manager()
        seen: ExecutionManager = manager_view(manager) if manager_view is not None else manager
        config_service = PipelineConfigService(stores.configs, loader)
        stats = StatsCalculator(stores.lineage)
        callbacks = ExecutionStatusCallbackAdapter(
            executions=stores.executions, hub=hub, stats=stats, recorder=recorder
        )
        launcher = ExecutionLauncher(manager=seen, executions=stores.executions, hub=hub, callbacks=callbacks)
        replay_coordinator = replay(launcher, config_service) if replay is not None else None
        workers = route_workers(manager) if route_workers is not None else None
        service = ExecutionService(
            configs=config_service,
            executions=stores.executions,
            manager=seen,
            launcher=launcher,
            hub=hub,
            lineage=stores.lineage,
            stats=stats,
            recorder=recorder,
            pauses=stores.pauses,
            replay_coordinator=replay_coordinator,
            route_workers=workers,
            engine_version=engine_version,
        )
        return cls(
            stores=stores,
            recorder=recorder,
            hub=hub,
            manager=manager,
            config_service=config_service,
            stats=stats,
            launcher=launcher,
            service=service,
            replay=replay_coordinator,
            route_workers=workers,
        )
