"""`ExecutionBuilder`: one execution's runtime, built whole before anything starts.

The orchestrator used to parse the snapshot in `start()` and assign its runtime, adapters and
processors as it went, so half its fields were missing until then and every reader guarded with
`getattr`. The builder now constructs every part from the snapshot in one synchronous pass
(counters, scoped queue, lineage facts, adapters, route processors) and hands the
`PipelineOrchestrator` a `BuiltExecution`; the orchestrator only starts, runs and stops it.

Nothing the builder makes does I/O: adapter instances are created but not started, processors are
constructed but not subscribed. A failure is an `ExecutionBuildError` naming the start step it
belongs to (`configuration`, `adapters`, `routes`), reported like a failed start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Set
from dataclasses import dataclass
from typing import Any

from factflow_engine.config import ConfigSnapshot, PipelineGlobalConfig
from factflow_protocols import ExecutionProgress, PipelineAdapter

from ..storage import StorageBackendAdapter
from ._accounting import CompletionAccountant
from ._backpressure import pressure_queues
from ._completion import ExecutionSignals
from ._context import ExecutionRuntime, RuntimeDependencies
from ._events import EventEmitter, ProgressReporter
from ._route import ReactiveRouteProcessor
from ._scoped_queue import ExecutionScopedQueue
from ._seed import SeedCallable
from ._shared import ExecutionRole, Placement
from ._stages import StageCounts, stage_facts
from ._start_failure import StartStep

__all__ = ("BuiltExecution", "ExecutionBuildError", "ExecutionBuilder", "ExecutionPlan")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionPlan:
    """What to run: one execution's frozen config and how it starts.

    Args:
        execution_id: The execution.
        snapshot: Its frozen config.
        skip_init: Do not publish the init message (replay, recovery).
        seed: A task run after the init message; the execution is seeded once both are done.
        root_correlation_id: The init message id (a new id when omitted).
        init_payload: The init payload (the snapshot's `init_message.payload` when omitted).
        config_id: The stored config the snapshot came from (for sidecars).
        replay_batch_id: The replay batch of a replay execution.
        role: `full` (control part plus the routes placed here) or `worker` (routes only: no init
            message, no seed, no completion; it runs until stopped).
        placement: The routes run here, and whether counts come from the queue's shared state.
    """

    execution_id: str
    snapshot: ConfigSnapshot
    skip_init: bool = False
    seed: SeedCallable | None = None
    root_correlation_id: str | None = None
    init_payload: dict[str, Any] | None = None
    config_id: str | None = None
    replay_batch_id: str | None = None
    role: ExecutionRole = "full"
    placement: Placement = Placement()

    def runs_route(self, route_id: str) -> bool:
        """Whether this process runs `route_id` of the execution (its placement)."""
        routes = self.placement.routes
        return routes is None or route_id in routes


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltExecution:
    """Every part of one execution, constructed and not started."""

    plan: ExecutionPlan
    config: PipelineGlobalConfig
    signals: ExecutionSignals
    events: EventEmitter
    progress: ProgressReporter
    accountant: CompletionAccountant
    stage_counts: StageCounts
    scoped_queue: ExecutionScopedQueue
    runtime: ExecutionRuntime
    adapters: dict[str, list[PipelineAdapter]]
    """Adapter instances by route, in chain order (created, not started)."""
    processors: dict[str, ReactiveRouteProcessor]
    """Route processors by route id (constructed, not subscribed)."""


class ExecutionBuildError(Exception):
    """Building failed at `step`; the cause is chained (`__cause__`)."""

    def __init__(self, step: StartStep, cause: Exception) -> None:
        super().__init__(f"{step}: {cause}")
        self.step = step
        self.cause = cause


class ExecutionBuilder:
    """Builds executions from the process's shared dependencies (one per manager)."""

    def __init__(self, dependencies: RuntimeDependencies) -> None:
        self.dependencies = dependencies

    def build(self, plan: ExecutionPlan, *, paused_routes: Set[str] = frozenset()) -> BuiltExecution:
        """Every part of `plan`'s execution; routes in `paused_routes` start paused.

        Raises:
            ExecutionBuildError: an adapter or a route could not be built.
        """
        deps = self.dependencies
        execution_id = plan.execution_id
        step: StartStep = "configuration"
        try:
            config = plan.snapshot.config
            consumed = config.consumed_queues()
            signals = ExecutionSignals()
            events = EventEmitter(deps.events, execution_id)
            stage_counts = StageCounts(on_change=lambda: progress.changed())

            def counts_changed() -> None:
                # The watcher only acts on counters once nothing is in flight; waking it on every
                # publish and ack would cost a loop turn (and a timeout) per message.
                if accountant.in_flight <= 0:
                    signals.wakeup.set()
                progress.changed()

            def progress_data() -> ExecutionProgress:
                counts = accountant.counts()
                return ExecutionProgress(
                    published=counts.published,
                    handled=counts.handled,
                    in_flight=counts.in_flight,
                    dead_lettered=counts.dead_lettered,
                    completed_stages=stage_counts.total_completed,
                    failed_stages=stage_counts.total_failed,
                )

            accountant = CompletionAccountant(
                consumed, tolerated_failures=config.error_handling.tolerated_failures, on_change=counts_changed
            )
            progress = ProgressReporter(events, progress_data, interval=deps.options.progress_interval_seconds)
            scoped_queue = ExecutionScopedQueue(deps.queue, execution_id, accountant=accountant)
            runtime = ExecutionRuntime(
                execution_id=execution_id,
                config=config,
                config_hash=plan.snapshot.config_hash,
                config_id=plan.config_id,
                config_version=plan.snapshot.config_version,
                replay_batch_id=plan.replay_batch_id,
                queue=scoped_queue,
                accountant=accountant,
                # Rows are built only for a recorder or an event sink, and hashed only for a recorder.
                stages=stage_facts(
                    execution_id=execution_id,
                    counts=stage_counts,
                    recorder=deps.lineage,
                    event_sink=events if deps.events is not None else None,
                ),
                stage_counts=stage_counts,
                events=events,
                storage=deps.storage,
                storage_backend=StorageBackendAdapter(
                    deps.storage, retry_delays=deps.options.storage_write_retry_delays, counters=deps.storage_counters
                ),
                metrics=deps.metrics,
                options=deps.options,
                execution_gate=asyncio.Semaphore(config.orchestrator.max_handlers),
                lineage_lookup=deps.lineage_lookup,
                consumed_queues=consumed,
            )
            step = "adapters"
            adapters = {
                route_id: [deps.adapters.create(entry.type, entry.config or None) for entry in route.adapters]
                for route_id, route in config.routes.items()
                if plan.runs_route(route_id)
            }
            step = "routes"

            # A worker's part reports it too; the execution's control part (the leader) re-seeds.
            next_step = "reconciling" if plan.role == "full" else "the leader re-seeds the execution"

            async def on_lost_state(queue: str, subscription: str) -> None:
                logger.warning("Queue %r of execution %r lost its state; %s", queue, execution_id, next_step)
                signals.report_lost_state()

            processors = {
                route_id: ReactiveRouteProcessor(
                    route_id=route_id,
                    route=route,
                    processor=config.processor_config(route_id),
                    adapters=adapters[route_id],
                    breakers=[config.breaker_for(route_id, index) for index in range(len(route.adapters))],
                    runtime=runtime,
                    counters=deps.metrics.route(route_id),
                    pressure_queues=pressure_queues(config, route_id),
                    paused=route_id in paused_routes,
                    on_lost_state=on_lost_state,
                )
                for route_id, route in config.routes.items()
                if plan.runs_route(route_id)
            }
        except Exception as exc:
            raise ExecutionBuildError(step, exc) from exc
        return BuiltExecution(
            plan=plan,
            config=config,
            signals=signals,
            events=events,
            progress=progress,
            accountant=accountant,
            stage_counts=stage_counts,
            scoped_queue=scoped_queue,
            runtime=runtime,
            adapters=adapters,
            processors=processors,
        )
