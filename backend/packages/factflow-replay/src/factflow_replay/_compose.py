"""`compose_runtime`: the whole execution runtime of one process, replay and recovery included.

On top of the execution layer's `ExecutionServices.build`, this adds the parts that live in this
package: the `Reinjector` (the manager's stall reconciler and recovery's re-injection), the
`ReplayService` (handed to the execution service while it is built) and the `RecoveryManager`.
The server and the recovery tests build their processes with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from factflow_engine.config import PipelineConfigLoader
from factflow_engine.runtime import EngineWiring, OrchestratorManager
from factflow_execution import (
    ExecutionEventHub,
    ExecutionLauncher,
    ExecutionManager,
    ExecutionServices,
    ExecutionStores,
    PipelineConfigService,
    RouteWorkerLookup,
)
from factflow_lineage import LineageRecorder

from ._publisher import PROGRESS_INTERVAL_SECONDS
from ._recovery import RecoveryManager
from ._reinject import Reinjector
from ._service import ReplayService
from ._worker_lineage import LineageRepair

__all__ = ("RuntimeServices", "compose_runtime")


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeServices:
    """The execution layer plus replay and recovery."""

    execution: ExecutionServices
    reinjector: Reinjector
    replays: ReplayService
    recovery: RecoveryManager


def compose_runtime(
    *,
    engine: EngineWiring,
    stores: ExecutionStores,
    loader: PipelineConfigLoader,
    recorder: LineageRecorder,
    hub: ExecutionEventHub | None = None,
    recovery_enabled: bool = True,
    recovery_max_attempts: int = 3,
    replay_progress_interval_seconds: float = PROGRESS_INTERVAL_SECONDS,
    manager_view: Callable[[OrchestratorManager], ExecutionManager] | None = None,
    route_workers: Callable[[OrchestratorManager], RouteWorkerLookup] | None = None,
) -> RuntimeServices:
    """Build the runtime graph (no I/O; run `recovery.recover_all()` before serving).

    Args:
        engine: The manager's providers, adapter factory and limits (its reconciler is set here).
        stores: The repositories.
        loader: Validates pipeline YAML against the live adapter registry.
        recorder: The lineage recorder.
        hub: The event hub (a new one when omitted).
        recovery_enabled: `RECOVERY_ENABLED`.
        recovery_max_attempts: `RECOVERY_MAX_ATTEMPTS`.
        replay_progress_interval_seconds: Minimum spacing of replay progress reports.
        manager_view: See `ExecutionServices.build`.
        route_workers: See `ExecutionServices.build`.
    """
    reinjector = Reinjector(executions=stores.executions, lineage=stores.lineage, recorder=recorder)

    def replay(launcher: ExecutionLauncher, configs: PipelineConfigService) -> ReplayService:
        return ReplayService(
            launcher=launcher,
            configs=configs,
            storage=engine.storage,
            progress_interval_seconds=replay_progress_interval_seconds,
        )

    repair = LineageRepair(repository=stores.lineage, storage=engine.storage, recorder=recorder)
    execution = ExecutionServices.build(
        engine=dataclasses.replace(
            engine,
            reconciler=reinjector,
            lineage_repair=engine.lineage_repair or repair,
            lineage_counts=engine.lineage_counts or repair.counts,
        ),
        stores=stores,
        loader=loader,
        recorder=recorder,
        hub=hub,
        replay=replay,
        manager_view=manager_view,
        route_workers=route_workers,
    )
    replays = execution.replay
    assert isinstance(replays, ReplayService)  # the factory above built it
    recovery = RecoveryManager(
        execution.service,
        launcher=execution.launcher,
        queue=engine.queue,
        storage=engine.storage,
        adapters=engine.adapters,
        reinjector=reinjector,
        enabled=recovery_enabled,
        max_attempts=recovery_max_attempts,
    )
    return RuntimeServices(execution=execution, reinjector=reinjector, replays=replays, recovery=recovery)
