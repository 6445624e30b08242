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
from ._shared import SharedExecutionState
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
        self._refresh_task: asyncio.Task[None] | None = None
        self._remote_depths: dict[str, QueueDepth] = {}
        """The last shared reading of the inbound groups of the routes other processes run."""

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
            reconcile=self._run_reconciler if dependencies.reconciler is not None else None,
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
                self._refresh_task = asyncio.create_task(
                    self._refresh_shared(), name=f"execution-counts:{self.execution_id}"
                )
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
        reconciler = self.deps.reconciler
        if reconciler is not None:
            await reconciler(SeedContext(self))

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

    async def _shared_depths(self, shared: SharedExecutionState) -> list[QueueDepth] | None:
        """Every route's inbound group and the DLQs, read atomically; the counters adopt the reading."""
        config = self.config
        scoped = self.scoped_queue.scoped
        groups = []
        for route_id in config.routes:
            processor = config.processor_config(route_id)
            groups.append((scoped(processor.inbound_queue), processor.subscription))
        dead_letter_queues = [scoped(queue) for queue in self.snapshot.dlqs()]
        try:
            depths, dead_lettered = await shared.read(groups, dead_letter_queues)
        except QueueError:
            return None
        self._remote_depths = {
            route_id: depth
            for route_id, depth in zip(config.routes, depths, strict=True)
            if route_id not in self.processors
        }
        self.accountant.adopt(
            published=sum(depth.settled + depth.total for depth in depths),
            handled=sum(depth.settled for depth in depths),
            dead_lettered=dead_lettered,
        )
        return depths

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
