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
from ._route import RouteRuntimeStatus, RouteState
from ._seed import SeedCallable, SeedContext
from ._shared import STATE_LOST_CODE, Placement, SharedExecutionState
from ._start_failure import StartStep, describe_error, start_failure
from ._tasks import run_siblings

__all__ = ("OrchestratorPhase", "PipelineOrchestrator")

logger = logging.getLogger(__name__)

OrchestratorPhase = Literal["created", "starting", "running", "stopping", "finished"]

_FINISH_GRACE_SECONDS = 5.0
"""Grace for handlers still settling when an execution completes (their work is already counted)."""
_SHARED_REFRESH_SECONDS = 0.5
"""How often the control part of a shared execution reads the queue's shared counts."""
_LINEAGE_FLUSH_WAIT_SECONDS = 10.0
"""How long the leader waits for workers to flush an ending execution's lineage rows."""
_SETTLE_MIN_SECONDS = 2.5
"""After lost queue state, the leader waits at least this long for workers to settle: every live worker
re-registers (heartbeat, 1 s) and re-announces what it runs (its reconcile pass, 1 s) within it."""
_SETTLE_MAX_SECONDS = 60.0
"""How long the leader waits for workers to settle before it re-seeds anyway."""
_SETTLE_POLL_SECONDS = 0.1


class PipelineOrchestrator:
    """Runs one built execution: starts its routes, publishes the init message, watches for completion.

    `ExecutionBuilder` constructs every part first (`BuiltExecution`); the orchestrator never
    builds anything. Use `start()` (returns once the init message is published, or raises
    `ExecutionStartError` after reporting `failed`/`start_failed`), then `request_cancel()` or
    `request_stop(grace)` as needed; `wait()` returns once `on_stopped` has returned.

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
        self._shared: SharedExecutionState | None = dependencies.shared_state if plan.placement.shared else None
        if plan.placement.shared and self._shared is None:
            raise ValueError("A shared placement needs a queue with shared state (Redis).")
        self._marked_shared = False
        """Workers may join (the leader set the mark, at start or at promotion)."""
        self._refresh_task: asyncio.Task[None] | None = None
        self._remote_depths: dict[str, QueueDepth] = {}
        """The last shared reading of the inbound groups of the routes other processes run."""
        self._lost_epoch = 0
        """Losses of queue state the shared reading found (its mark gone)."""
        self._reseeded_epoch = 0
        """Losses a completed re-seed has served; the execution cannot complete while one is not served."""
        self._last_reading = (0, 0)
        """`handled` and `dead_lettered` of the latest shared reading since the last loss."""
        self._carried = (0, 0)
        """`handled` and `dead_lettered` carried over lost queue state (progress counts until the end)."""

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
        return self._shared is not None

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
            depth = self._remote_depths.get(route_id)
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
        if self._shared is None or self.role != "full":
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
            if self._shared is not None and self.role == "full":
                step = "routes"
                await self._shared.mark_shared(self.execution_id)  # before any message: workers may join
                self._marked_shared = True
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
        if not self._promotable():
            return False
        self.signals.request_promotion()
        return True

    async def promote(self) -> bool:
        """Switch an execution that runs in process to shared mode, and return whether it did.

        The counts move from this process's accountant to the queue's shared reading (taken at a
        quiet moment, so nothing is lost or counted twice at the switch), and the execution is
        marked shared so worker processes join it. False when there is nothing to promote, no quiet
        moment came, or the queue could not be reached (a later request tries again).
        """
        if not self._promotable():
            return False
        return await self.signals.request_promotion()

    def _promotable(self) -> bool:
        return (
            self.role == "full"
            and self.deps.shared_state is not None
            and not self._marked_shared
            and self.phase == "running"
            and self.signals.seeded
            and not self.signals.stopping()
        )

    async def _switch_to_shared(self) -> bool:
        """The watcher's side of `promote()`, run between its checks (docs/concepts/workers.md, Promotion)."""
        shared = self.deps.shared_state
        if shared is None or not self._promotable():
            return False
        # Unmarked yet (workers cannot have joined): the groups and DLQs hold exactly what this
        # process published, settled and dead-lettered, read while none of it was in transit.
        reading = await self.watcher.quiet_reading(lambda: self._read_shared(shared, marked=None))
        if reading is None:
            logger.info("Execution %r: no quiet moment to switch to shared counts; trying later", self.execution_id)
            return False
        depths, dead_lettered = reading
        accountant = self.accountant
        handled = sum(depth.settled for depth in depths)
        if sum(depth.total for depth in depths) != accountant.in_flight:
            logger.warning(
                "Execution %r: in-flight was %d here and %d in the queues at the switch; the queues' count holds",
                self.execution_id,
                accountant.in_flight,
                sum(depth.total for depth in depths),
            )
        # What only these counters knew (a repeat absorbed here, a failure with no DLQ entry) is
        # carried, so the counts do not jump at the switch.
        carried = (accountant.handled - handled, accountant.failed_messages - accountant.extra_failures - dead_lettered)
        await shared.mark_shared(self.execution_id)  # workers join from their next reconcile on
        self._marked_shared = True
        self._carried, self._last_reading = carried, (handled, dead_lettered)
        self._shared = shared
        self.placement = Placement(routes=self.placement.routes, shared=True)
        await self._shared_depths(shared)
        self._start_refresh()
        logger.info(
            "Execution %r runs shared with worker processes from now on (%s)",
            self.execution_id,
            accountant.counts().as_dict(),
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
            if self._shared is not None:
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
        shared = self._shared
        if shared is None:
            if self.deps.reconciler is not None:
                await self.deps.reconciler(SeedContext(self))
            return
        # A shared execution: the reading finds a loss the routes reported (its mark is gone), so this
        # pass serves it; the re-seed then waits until no delivery of the lost streams runs anywhere.
        await self._depths()
        epoch = self._lost_epoch
        try:
            await self._settle(shared)
            if self.deps.reconciler is not None:
                await self.deps.reconciler(SeedContext(self))
        except Exception:
            self.signals.report_lost_state()  # another pass, once the queue or database answers
            raise
        if self._lost_epoch == epoch:
            # Reports of the loss this pass served (the routes' own `NOGROUP`) need no second pass;
            # a later loss is found by the reading anyway.
            self.signals.lost_state = False
        self._reseeded_epoch = max(self._reseeded_epoch, epoch)
        self.signals.wakeup.set()

    async def _settle(self, shared: SharedExecutionState) -> None:
        """Wait until the deliveries running here and on every worker when asked have ended, their lineage written.

        Lineage then shows every message those deliveries finished, so the re-seed re-publishes only
        what no process runs any more, and no stage runs twice.

        Raises:
            QueueError: the queue cannot be reached (the re-seed is retried).
        """
        token = new_id()
        await shared.request_settle(self.execution_id, token)
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting: set[str] = set()
        try:
            async with asyncio.timeout(_SETTLE_MAX_SECONDS):
                await self.settle_deliveries()
                while True:
                    waiting = await shared.unsettled_workers(self.execution_id, token)
                    if not waiting and loop.time() - started >= _SETTLE_MIN_SECONDS:
                        return
                    await asyncio.sleep(_SETTLE_POLL_SECONDS)
        except TimeoutError:
            logger.warning(
                "Execution %r: worker(s) %s did not settle within %.0f s after lost queue state; re-seeding anyway",
                self.execution_id,
                ", ".join(sorted(waiting)) or "-",
                _SETTLE_MAX_SECONDS,
            )

    async def settle_deliveries(self) -> None:
        """Wait until every delivery of this execution that runs here now has ended (later ones may run)."""
        marks = {route_id: processor.delivery_mark() for route_id, processor in self.processors.items()}
        for route_id, mark in marks.items():
            await self.processors[route_id].wait_running_before(mark)

    def _hold_reading(self, held: bool) -> None:
        for processor in self.processors.values():
            processor.hold_reading(held)

    async def _depths(self) -> list[QueueDepth] | None:
        if self._shared is not None:
            return await self._shared_depths(self._shared)
        depths: list[QueueDepth] = []
        for processor in self.processors.values():
            try:
                depths.append(
                    await self.scoped_queue.depth(processor.processor.inbound_queue, processor.processor.subscription)
                )
            except QueueError:
                return None
        return depths

    async def _read_shared(
        self, shared: SharedExecutionState, *, marked: str | None
    ) -> tuple[list[QueueDepth], int] | None:
        """Every route's inbound group and the DLQs, read atomically; None when the queue is unreachable.

        Raises:
            QueueError: code `STATE_LOST_CODE`, the `marked` execution's mark is gone.
        """
        config = self.config
        scoped = self.scoped_queue.scoped
        groups = []
        for route_id in config.routes:
            processor = config.processor_config(route_id)
            groups.append((scoped(processor.inbound_queue), processor.subscription))
        dead_letter_queues = [scoped(queue) for queue in self.snapshot.dlqs()]
        try:
            return await shared.read(groups, dead_letter_queues, marked=marked)
        except QueueError as exc:
            if exc.code == STATE_LOST_CODE:
                raise
            return None

    async def _shared_depths(self, shared: SharedExecutionState) -> list[QueueDepth] | None:
        """The shared reading (`_read_shared`), checking the mark; the counters adopt it."""
        try:
            reading = await self._read_shared(shared, marked=self.execution_id if self.role == "full" else None)
        except QueueError:  # the mark is gone
            await self._state_lost(shared)
            return None
        if reading is None:
            return None
        depths, dead_lettered = reading
        self._remote_depths = {
            route_id: depth
            for route_id, depth in zip(self.config.routes, depths, strict=True)
            if route_id not in self.processors
        }
        if self.role == "full":  # progress: the stages worker processes ran
            try:
                completed, failed = await shared.reported_stages(self.execution_id)
            except QueueError:
                pass  # progress only; the next reading catches up
            else:
                self.stage_counts.set_reported(completed=completed, failed=failed)
        handled = sum(depth.settled for depth in depths)
        self._last_reading = (handled, dead_lettered)
        carried_handled, carried_dead = self._carried
        self.accountant.adopt(
            published=carried_handled + handled + sum(depth.total for depth in depths),
            handled=carried_handled + handled,
            dead_lettered=carried_dead + dead_lettered,
        )
        if self._lost_epoch > self._reseeded_epoch:
            return None  # not done before the re-seed after lost state has run
        return depths

    async def _state_lost(self, shared: SharedExecutionState) -> None:
        """The reading found the execution's mark gone: Redis lost the streams, groups and DLQs.

        The counts so far are carried (progress only: the final ones come from lineage), the mark is
        set again (workers that start later join), and the watcher runs the re-seed.
        """
        self._lost_epoch += 1
        handled, dead_lettered = self._last_reading
        self._carried = (self._carried[0] + handled, self._carried[1] + dead_lettered)
        self._last_reading = (0, 0)
        logger.warning("Execution %r: the queue lost its state (Redis restarted?); re-seeding", self.execution_id)
        try:
            await shared.mark_shared(self.execution_id)
        except QueueError as exc:
            logger.warning("Execution %r: could not mark it shared again: %s", self.execution_id, exc)
        self.signals.report_lost_state()

    @property
    def lost_queue_state(self) -> bool:
        """Whether the queue lost this (shared) execution's state while it ran."""
        return self._lost_epoch > 0

    async def _count_from_lineage(self) -> None:
        """Final counts of a shared execution whose queues lost their state: from its lineage rows.

        Redis kept no count of what was settled before the loss, and the re-seed re-published
        some messages that ran before; lineage counts each (route, message) delivery once.
        """
        count = self.deps.lineage_counts
        if count is None:
            logger.warning("Execution %r: no lineage to count from after lost queue state", self.execution_id)
            return
        try:
            counts = await count(self.execution_id, self.config)
        except Exception:
            logger.exception("Execution %r: counting its messages from lineage failed", self.execution_id)
            return
        self.accountant.adopt(published=counts.delivered, handled=counts.delivered, dead_lettered=counts.dead_lettered)

    async def _wait_for_worker_lineage(self, shared: SharedExecutionState) -> None:
        """Ask the workers of the execution to flush its lineage rows, and wait (bounded) until they did."""
        try:
            await shared.request_flush(self.execution_id)
            async with asyncio.timeout(_LINEAGE_FLUSH_WAIT_SECONDS):
                while waiting := await shared.unflushed_workers(self.execution_id):
                    logger.debug("Execution %r: waiting for lineage of %s", self.execution_id, sorted(waiting))
                    await asyncio.sleep(0.1)
        except TimeoutError:
            logger.warning(
                "Execution %r: workers did not flush lineage within %.0f s; stats may lag",
                self.execution_id,
                _LINEAGE_FLUSH_WAIT_SECONDS,
            )
        except QueueError as exc:
            logger.warning("Execution %r: could not ask workers to flush lineage: %s", self.execution_id, exc)

    async def _repair_lineage(self, shared: SharedExecutionState) -> None:
        """A worker that joined and never flushed died with rows in its buffer: write them back."""
        repair = self.deps.lineage_repair
        if repair is None:
            return
        try:
            lost = await shared.unflushed_workers(self.execution_id, live_only=False)
            if lost:
                logger.warning(
                    "Execution %r: worker(s) %s died before flushing lineage; rebuilding it",
                    self.execution_id,
                    ", ".join(sorted(lost)),
                )
                await repair(self.execution_id, self.config)
        except Exception:
            logger.exception("Execution %r: repairing lineage after a dead worker failed", self.execution_id)

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
            if self._shared is not None and self.role == "full" and status != "interrupted":
                await self._wait_for_worker_lineage(self._shared)
                if status != "cancelled":  # a cancelled execution's queues are purged
                    await self._depths()  # the final counts
                    await self._repair_lineage(self._shared)
                    # Completion decided it (completed, or too many dead letters): count from lineage.
                    decided = status == "completed" or (
                        error_info is not None and error_info.code == "dead_letter_threshold_exceeded"
                    )
                    if self.lost_queue_state and decided:
                        await self._count_from_lineage()
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
