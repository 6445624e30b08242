"""`PipelineOrchestrator`: runs one built execution to its final status (docs/concepts/routes-and-stages.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Sequence
from typing import Literal

from factflow_engine._ports import FinalStatus, OrchestratorCallbacks
from factflow_foundation import new_id
from factflow_protocols import EnvelopeControl, ErrorInfo, PipelineAdapter, QueueDepth, QueueError, QueueMessage

from ._builder import BuiltExecution
from ._completion import CompletionTimings, CompletionWatcher
from ._context import RuntimeDependencies
from ._lost_state import LostQueueState
from ._promotion import Promotion
from ._route import RouteRuntimeStatus, RouteState
from ._seed import SeedCallable, SeedContext
from ._shared import Placement, SharedExecutionState
from ._shared_counts import SharedCounts, SharedGroup
from ._start_failure import StartStep, describe_error, start_failure
from ._tasks import run_siblings
from ._worker_lineage import repair_worker_lineage, wait_for_worker_lineage

__all__ = ("OrchestratorPhase", "PipelineOrchestrator")

logger = logging.getLogger(__name__)

OrchestratorPhase = Literal["created", "starting", "running", "stopping", "finished"]

_FINISH_GRACE_SECONDS = 5.0
"""Grace for handlers still settling when an execution completes (their work is already counted)."""
_SHARED_REFRESH_SECONDS = 0.5
"""How often the control part of a shared execution reads the queue's shared counts."""


class PipelineOrchestrator:
    """Runs one built execution: starts its routes, publishes the init message, watches for completion.

    `ExecutionBuilder` constructs every part first (`BuiltExecution`); the orchestrator never
    builds anything. Use `start()` (returns once the init message is published, or raises
    `ExecutionStartError` after reporting `failed`/`start_failed`), then `request_cancel()` or
    `request_stop(grace)` as needed; `wait()` returns once `on_stopped` has returned.

    It composes the parts of a shared execution: `SharedCounts` (the queue's reading), `Promotion`
    (an in-process execution switching to it) and `LostQueueState` (a re-seed after Redis lost it).

    Args:
        built: The execution's parts, from `ExecutionBuilder.build`.
        callbacks: Told about the start and the final status.
        dependencies: The process's shared dependencies (options, metrics, reconciler).
    """

    def __init__(
        self, built: BuiltExecution, *, callbacks: OrchestratorCallbacks, dependencies: RuntimeDependencies
    ) -> None:
        plan = built.plan
        self.execution_id = plan.execution_id
        self.snapshot = plan.snapshot
        self.config = built.config
        self.callbacks = callbacks
        self.deps = dependencies
        self.skip_init = plan.skip_init
        self._seed = plan.seed
        self.root_correlation_id = plan.root_correlation_id
        self._init_payload = plan.init_payload
        self.config_id = plan.config_id
        self.replay_batch_id = plan.replay_batch_id
        self.storage = dependencies.storage
        self.role = plan.role
        self.placement = plan.placement
        shared_state = dependencies.shared_state
        if plan.placement.shared and shared_state is None:
            raise ValueError("A shared placement needs a queue with shared state (Redis).")
        self._counts = self._shared_counts(built, shared_state) if shared_state is not None else None
        """The queue's reading of the execution (taken at promotion before it counts)."""
        self._lost: LostQueueState | None = None
        """Set while the execution is shared (placed so, or promoted)."""
        self._refresh_task: asyncio.Task[None] | None = None

        self.phase: OrchestratorPhase = "created"
        self.signals = built.signals
        self.events = built.events
        self.progress = built.progress
        self.accountant = built.accountant
        self.stage_counts = built.stage_counts
        self.scoped_queue = built.scoped_queue
        self.runtime = built.runtime
        self.adapters = built.adapters
        self.processors = built.processors
        self._started_adapters: list[PipelineAdapter] = []
        options = dependencies.options
        self.watcher = CompletionWatcher(
            execution_id=self.execution_id,
            accountant=self.accountant,
            signals=self.signals,
            depths=self._depths,
            local_work=self.has_local_work,
            hold_reading=self._hold_reading,
            # Shared executions (placed so, or promoted later) re-seed after lost queue state.
            reconcile=(
                self._run_reconciler
                if dependencies.reconciler is not None or dependencies.shared_state is not None
                else None
            ),
            promote=self._switch_to_shared,
            timings=CompletionTimings(
                stall_check_interval_seconds=options.stall_check_interval_seconds,
                stall_timeout_seconds=options.stall_timeout_seconds,
                recheck_max_seconds=options.completion_recheck_max_seconds,
            ),
        )
        self._promotion = (
            Promotion(
                execution_id=self.execution_id,
                counts=self._counts,
                accountant=self.accountant,
                signals=self.signals,
                quiet_reading=self.watcher.quiet_reading,
                ready=lambda: self.phase == "running" and self.signals.seeded and not self.signals.stopping(),
            )
            if self._counts is not None and self.role == "full" and not plan.placement.shared
            else None
        )
        if plan.placement.shared:
            self._go_shared()
        self._seed_task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._finished = asyncio.Event()
        self.final_status: FinalStatus | None = None
        self.final_error: ErrorInfo | None = None
        self.started_at = time.monotonic()

    # ------------------------------------------------------------------ observation

    @property
    def is_finished(self) -> bool:
        return self._finished.is_set()

    @property
    def seeded(self) -> bool:
        return self.signals.seeded

    @property
    def shared(self) -> bool:
        """Counts and completion come from the queue's shared state (placed so, or promoted)."""
        return self._lost is not None

    @staticmethod
    def _shared_counts(built: BuiltExecution, shared: SharedExecutionState) -> SharedCounts:
        config, scoped = built.config, built.scoped_queue.scoped
        groups = []
        for route_id in config.routes:
            processor = config.processor_config(route_id)
            groups.append(SharedGroup(route_id, scoped(processor.inbound_queue), processor.subscription))
        return SharedCounts(
            shared,
            groups=groups,
            dead_letter_queues=[scoped(queue) for queue in built.plan.snapshot.dlqs()],
            accountant=built.accountant,
        )

    def _go_shared(self) -> None:
        assert self._counts is not None
        reconciler = self.deps.reconciler
        self._lost = LostQueueState(
            execution_id=self.execution_id,
            counts=self._counts,
            signals=self.signals,
            read=self._depths,
            settle_here=self.settle_deliveries,
            reseed=(lambda: reconciler(SeedContext(self))) if reconciler is not None else None,
            lineage_counts=self.deps.lineage_counts,
        )
        self.placement = Placement(routes=self.placement.routes, shared=True)

    def route_statuses(self, paused_routes: Collection[str] = ()) -> list[RouteRuntimeStatus]:
        """The local processors' states; the control part of a shared execution adds the remote routes.

        A route that worker processes run is `running` (`paused` when its name is in
        `paused_routes`) while the execution runs, with the in-flight (pending) and depth figures
        of the last shared reading; its concurrency is the workers' and unknown here.
        """
        statuses = [processor.status() for processor in self.processors.values()]
        if self.phase != "running":
            return statuses
        for route_id in self.remote_route_ids():
            depth = self._counts.depth(route_id) if self._counts is not None else None
            paused = route_id in paused_routes
            statuses.append(
                RouteRuntimeStatus(
                    execution_id=self.execution_id,
                    route_id=route_id,
                    processor_state=RouteState.PAUSED if paused else RouteState.RUNNING,
                    paused=paused,
                    concurrency_current=None,
                    concurrency_max=None,
                    in_flight=depth.pending if depth is not None else 0,
                    queue_depth=depth.total if depth is not None else None,
                )
            )
        return statuses

    def remote_route_ids(self) -> list[str]:
        """Routes of this shared execution that run in worker processes (the control part's view)."""
        if not self.shared or self.role != "full":
            return []
        return [route_id for route_id in self.config.routes if route_id not in self.processors]

    async def wait(self) -> FinalStatus:
        """Wait until the execution ended and `on_stopped` returned."""
        await self._finished.wait()
        assert self.final_status is not None
        return self.final_status

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        """Start the adapters and routes, publish the init message, then run the seed and the watch.

        Raises:
            ExecutionStartError: a step failed; the execution has been reported `failed`
                (`start_failed`) and everything that started was stopped.
        """
        self.phase = "starting"
        step: StartStep = "adapters"
        try:
            if self.shared and self._counts is not None and self.role == "full":
                step = "routes"
                await self._counts.shared.mark_shared(self.execution_id)  # before any message: workers may join
                step = "adapters"
            await self._start_adapters()
            step = "routes"
            async with asyncio.timeout(self.config.orchestrator.ready_timeout_seconds):
                await run_siblings(
                    (f"route-start:{self.execution_id}:{route_id}", processor.start())
                    for route_id, processor in self.processors.items()
                )
            step = "init_message"
            await self._publish_init()
        except asyncio.CancelledError:
            await self._abort_start()
            raise
        except BaseException as exc:
            await self._fail_start(step, exc)
        self.phase = "running"
        try:
            await self.callbacks.on_started(self.execution_id)
        except Exception:
            logger.exception("on_started callback failed for execution %r", self.execution_id)
        self._run_task = asyncio.create_task(self._run(), name=f"execution:{self.execution_id}")

    async def _start_adapters(self) -> None:
        timeout = self.config.orchestrator.adapter_start_timeout_seconds

        async def start_route(adapters: Sequence[PipelineAdapter]) -> None:
            for adapter in adapters:
                async with asyncio.timeout(timeout):
                    await adapter.start()
                self._started_adapters.append(adapter)

        await run_siblings(
            (f"adapter-start:{self.execution_id}:{route_id}", start_route(adapters))
            for route_id, adapters in self.adapters.items()
        )

    async def _publish_init(self) -> None:
        init = self.config.init_message
        if self.role == "worker":
            return
        if self.skip_init or init is None:
            self.root_correlation_id = None if init is None else self.root_correlation_id
            return
        if self.root_correlation_id is None:
            self.root_correlation_id = new_id()
        payload = self._init_payload if self._init_payload is not None else init.payload
        message = QueueMessage(
            id=self.root_correlation_id,
            parent_id=None,
            execution_id=self.execution_id,
            route_id=init.route,
            payload=dict(payload),
            control=EnvelopeControl(trace_id=new_id()),
        )
        await self.scoped_queue.publish(self.config.routes[init.route].inbound.queue_name, message)

    async def _stop_everything(self, grace: float | None) -> None:
        for processor in self.processors.values():
            processor.pause_reading()
        results = await asyncio.gather(
            *(processor.stop(grace) for processor in self.processors.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                logger.error("Stopping a route of %r failed", self.execution_id, exc_info=result)
        await self._stop_adapters()

    async def _stop_adapters(self) -> None:
        adapters, self._started_adapters = self._started_adapters, []

        timeout = self.config.orchestrator.adapter_start_timeout_seconds

        async def stop_one(adapter: PipelineAdapter) -> None:
            try:
                async with asyncio.timeout(timeout):
                    await adapter.stop()
            except Exception:
                logger.exception("Adapter %r failed to stop", getattr(adapter, "adapter_type", adapter))

        await asyncio.gather(*(stop_one(adapter) for adapter in adapters))

    async def _abort_start(self) -> None:
        self.runtime_cancel()
        await self._stop_everything(0)
        self.progress.close()

    async def _fail_start(self, step: StartStep, exc: BaseException) -> None:
        logger.error("Execution %r failed to start at step %r: %s", self.execution_id, step, exc)
        self.runtime_cancel()
        await self._stop_everything(0)
        error_info, error = start_failure(self.execution_id, step, exc)
        self.progress.close()
        self.phase = "finished"
        self.final_status = "failed"
        self.final_error = error_info
        try:
            await self.callbacks.on_stopped(self.execution_id, "failed", error_info, self.accountant.counts().as_dict())
        except Exception:
            logger.exception("on_stopped callback failed for execution %r", self.execution_id)
        finally:
            self._finished.set()
        raise error from exc

    def runtime_cancel(self) -> None:
        self.runtime.cancelling.set()

    # ------------------------------------------------------------------ control

    def request_cancel(self) -> bool:
        """Start cancelling (returns at once); False if the execution is already ending."""
        if self.signals.stop_request is not None or self.is_finished:
            return False
        self.signals.request_stop("cancelled", self.config.orchestrator.cancel_grace_seconds)
        return True

    def request_stop(self, grace_seconds: float | None) -> bool:
        """Stop for shutdown: the execution ends `interrupted` after up to `grace_seconds` of draining."""
        if self.is_finished:
            return False
        self.signals.request_stop("interrupted", grace_seconds)
        return True

    def set_failure(self, error_info: ErrorInfo) -> None:
        """End `failed` with `error_info` once in-flight work drains (seed tasks)."""
        self.signals.fail(error_info)

    def set_paused(self, route_id: str, paused: bool) -> bool:
        """Apply a global pause flag; returns whether this execution has the route."""
        processor = self.processors.get(route_id)
        if processor is None:
            return False
        processor.set_paused(paused)
        return True

    def request_promotion(self) -> bool:
        """Ask to run the execution shared from now on, because a worker process serves its pools.

        Returns at once; the completion watcher switches between two of its checks (`promote()`
        waits for the outcome). False when there is nothing to do now: the execution is shared
        already, ending, a worker's part, its queue has no shared state (memory), or its seed task
        (replay publishing, recovery, which set the counters from the queues) still runs.
        """
        return self._promotion is not None and self._promotion.request()

    async def promote(self) -> bool:
        """Switch an execution that runs in process to shared mode, and return whether it did (`Promotion`).

        False when there is nothing to promote, no quiet moment came, or the queue could not be
        reached (a later request tries again).
        """
        return self._promotion is not None and await self._promotion.promote()

    async def _switch_to_shared(self) -> bool:
        """The watcher's side of `promote()`, run between its checks (docs/concepts/workers.md, Promotion)."""
        if self._promotion is None or not await self._promotion.switch():
            return False
        self._go_shared()
        await self._depths()
        self._start_refresh()
        logger.info(
            "Execution %r runs shared with worker processes from now on (%s)",
            self.execution_id,
            self.accountant.counts().as_dict(),
        )
        return True

    async def wait_for_capacity(self, route_id: str) -> None:
        processor = self.processors.get(route_id)
        if processor is not None:
            await processor.wait_for_capacity()

    # ------------------------------------------------------------------ run

    async def _run(self) -> None:
        status: FinalStatus = "failed"
        error_info: ErrorInfo | None = None
        grace: float | None = 0
        try:
            if self.role == "worker":
                status, grace = await self._wait_for_stop()
                await self._finish(status, None, grace)
                return
            self._start_seed()
            if self.shared:
                self._start_refresh()
            status, error_info, grace = await self.watcher.watch()
        except asyncio.CancelledError:
            await self._finish("interrupted", None, 0)
            raise
        except Exception as exc:
            logger.exception("Execution %r failed in the orchestrator", self.execution_id)
            status, error_info = "failed", ErrorInfo("orchestrator_error", describe_error(exc))
        await self._finish(status, error_info, grace)

    async def _wait_for_stop(self) -> tuple[FinalStatus, float | None]:
        """A worker's part of an execution runs until it is stopped (the leader decides the end)."""
        signals = self.signals
        while signals.stop_request is None:
            signals.wakeup.clear()
            await signals.wakeup.wait()
        return signals.stop_request

    def _start_refresh(self) -> None:
        if self._refresh_task is None:
            self._refresh_task = asyncio.create_task(
                self._refresh_shared(), name=f"execution-counts:{self.execution_id}"
            )

    async def _refresh_shared(self) -> None:
        """Keep the counters equal to the queue's shared state (a shared execution's control part)."""
        while True:
            await self._depths()
            await asyncio.sleep(_SHARED_REFRESH_SECONDS)

    def _start_seed(self) -> None:
        if self._seed is None:
            self.signals.mark_seeded()
            return
        context = SeedContext(self)
        self._seed_task = asyncio.create_task(self._run_seed(self._seed, context), name=f"seed:{self.execution_id}")

    async def _run_seed(self, seed: SeedCallable, context: SeedContext) -> None:
        try:
            await seed(context)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("Seed task of execution %r failed", self.execution_id)
            self.set_failure(ErrorInfo("start_failed", f"Seed task failed: {describe_error(exc)}"))
        finally:
            self.signals.mark_seeded()

    async def total_depth(self) -> int | None:
        """Ready plus pending entries across the consumed queues; None if any depth is unknown."""
        return await self.watcher.total_depth()

    def has_local_work(self) -> bool:
        """A seed task or a delivery of the execution is running here."""
        seed_running = self._seed_task is not None and not self._seed_task.done()
        return seed_running or any(p.in_flight or p.outstanding() for p in self.processors.values())

    async def resync_from_queues(self) -> bool:
        """Make in-flight equal the entries the consumed queues hold (`CompletionWatcher`)."""
        return await self.watcher.resync_from_queues()

    async def seed_from_queues(self) -> None:
        """Start the counters from what the consumed queues kept (a resumed execution, Redis mode)."""
        await self.watcher.seed_from_queues()

    async def _run_reconciler(self) -> None:
        if self._lost is not None:
            await self._lost.serve()
        elif self.deps.reconciler is not None:
            await self.deps.reconciler(SeedContext(self))

    async def settle_deliveries(self) -> None:
        """Wait until every delivery of this execution that runs here now has ended (later ones may run)."""
        marks = {route_id: processor.delivery_mark() for route_id, processor in self.processors.items()}
        for route_id, mark in marks.items():
            await self.processors[route_id].wait_running_before(mark)

    def _hold_reading(self, held: bool) -> None:
        for processor in self.processors.values():
            processor.hold_reading(held)

    async def _depths(self) -> list[QueueDepth] | None:
        if self._lost is not None:
            return await self._shared_depths(self._lost)
        depths: list[QueueDepth] = []
        for processor in self.processors.values():
            try:
                depths.append(
                    await self.scoped_queue.depth(processor.processor.inbound_queue, processor.processor.subscription)
                )
            except QueueError:
                return None
        return depths

    async def _shared_depths(self, lost: LostQueueState) -> list[QueueDepth] | None:
        """The shared reading, checking the mark (the control part); the counters adopt it."""
        assert self._counts is not None
        try:
            reading = await self._counts.read(marked=self.execution_id if self.role == "full" else None)
        except QueueError:  # the mark is gone
            await lost.found()
            return None
        if reading is None:
            return None
        counts = self._counts
        counts.adopt(reading)
        if self.role == "full":  # progress: the stages worker processes ran
            try:
                completed, failed = await counts.shared.reported_stages(self.execution_id)
            except QueueError:
                pass  # progress only; the next reading catches up
            else:
                self.stage_counts.set_reported(completed=completed, failed=failed)
        if lost.unserved:
            return None  # not done before the re-seed after lost state has run
        return reading.depths

    @property
    def lost_queue_state(self) -> bool:
        """Whether the queue lost this (shared) execution's state while it ran."""
        return self._lost is not None and self._lost.lost

    # ------------------------------------------------------------------ finish

    async def _finish(self, status: FinalStatus, error_info: ErrorInfo | None, grace: float | None) -> None:
        self.phase = "stopping"
        self.signals.end_promotion(False)
        refresh, self._refresh_task = self._refresh_task, None
        if refresh is not None and not refresh.done():
            refresh.cancel()
            await asyncio.wait({refresh})
        try:
            if status == "cancelled":
                # Cancelling stops every branch at its next step; a shutdown (`interrupted`)
                # instead lets running deliveries drain for the grace period.
                self.runtime.cancelling.set()
            for processor in self.processors.values():
                processor.pause_reading()
            seed_task = self._seed_task
            if seed_task is not None and not seed_task.done():
                seed_task.cancel()
                await asyncio.wait({seed_task})
            stop_grace = grace if status in ("cancelled", "interrupted") else _FINISH_GRACE_SECONDS
            await self._stop_everything(stop_grace)
            self.runtime.cancelling.set()
            if status == "cancelled" and self.role == "full":
                await self._purge_queues()
            if self._lost is not None and self._counts is not None and self.role == "full" and status != "interrupted":
                shared = self._counts.shared
                await wait_for_worker_lineage(shared, self.execution_id)
                if status != "cancelled":  # a cancelled execution's queues are purged
                    await self._depths()  # the final counts
                    await repair_worker_lineage(shared, self.execution_id, self.config, self.deps.lineage_repair)
                    # Completion decided it (completed, or too many dead letters): count from lineage.
                    decided = status == "completed" or (
                        error_info is not None and error_info.code == "dead_letter_threshold_exceeded"
                    )
                    if self._lost.lost and decided:
                        await self._lost.count_from_lineage(self.config, self.accountant)
                        status, error_info, _ = self.watcher.outcome()
        except Exception:
            logger.exception("Tearing down execution %r failed", self.execution_id)
        finally:
            self.progress.flush()
            self.final_status = status
            self.final_error = error_info
            self.phase = "finished"
            self.deps.metrics.executions_finished[status] += 1
            logger.info("Execution %r ended %s (%s)", self.execution_id, status, self.accountant.counts().as_dict())
            try:
                await self.callbacks.on_stopped(
                    self.execution_id, status, error_info, self.accountant.counts().as_dict()
                )
            except Exception:
                logger.exception("on_stopped callback failed for execution %r", self.execution_id)
            finally:
                self._finished.set()

    async def _purge_queues(self) -> None:
        """Drop the execution's non-DLQ queues at once (DLQs stay for the janitor)."""
        try:
            await self.scoped_queue.delete_queues(sorted(self.snapshot.queues()))
        except QueueError:
            logger.warning("Could not purge the queues of cancelled execution %r", self.execution_id, exc_info=True)

    async def shutdown(self) -> None:
        """Stop at once (no grace) and wait until the execution is finished; idempotent."""
        if self.phase in ("created", "starting"):
            return
        self.request_stop(0)
        await self._finished.wait()
