"""`PipelineOrchestrator`: one execution from start to its final status (docs/concepts/routes-and-stages.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

from factflow_engine._ports import FinalStatus, OrchestratorCallbacks
from factflow_engine.config import ConfigSnapshot, PipelineGlobalConfig
from factflow_foundation import new_id
from factflow_protocols import (
    EnvelopeControl,
    ErrorInfo,
    ExecutionProgress,
    PipelineAdapter,
    QueueDepth,
    QueueError,
    QueueMessage,
)

from ..storage import StorageBackendAdapter
from ._accounting import CompletionAccountant
from ._backpressure import pressure_queues
from ._completion import CompletionTimings, CompletionWatcher, ExecutionSignals
from ._context import ExecutionRuntime, RuntimeDependencies
from ._errors import ExecutionStartError
from ._events import EventEmitter, ProgressReporter
from ._route import ReactiveRouteProcessor, RouteRuntimeStatus
from ._scoped_queue import ExecutionScopedQueue
from ._seed import SeedCallable, SeedContext
from ._shared import ExecutionRole, Placement, SharedExecutionState
from ._stages import StageCounts, stage_facts
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
    """Runs one execution: builds its routes, publishes the init message, watches for completion.

    Use `start()` (returns once the init message is published, or raises `ExecutionStartError`
    after reporting `failed`/`start_failed`), then `request_cancel()` or `request_stop(grace)`
    as needed; `wait()` returns once `on_stopped` has returned.

    Args:
        execution_id: The execution.
        snapshot: Its frozen config.
        callbacks: Told about the start and the final status.
        dependencies: Providers, adapter factory, lineage, events, metrics and options.
        paused_routes: Route ids globally paused right now.
        skip_init: Do not publish the init message (replay, recovery).
        seed: A task run after the init message; the execution is seeded once both are done.
        root_correlation_id: The init message id (a new id when omitted).
        init_payload: The init payload (the snapshot's `init_message.payload` when omitted).
        config_id: The stored config the snapshot came from (for sidecars).
        replay_batch_id: The replay batch of a replay execution.
        role: `full` (control part plus the routes placed here) or `worker` (routes only: no init
            message, no seed, no completion; it runs until stopped).
        placement: The routes run here, and whether counts come from the queue's shared state
            (`dependencies.shared_state`).
    """

    def __init__(
        self,
        *,
        execution_id: str,
        snapshot: ConfigSnapshot,
        callbacks: OrchestratorCallbacks,
        dependencies: RuntimeDependencies,
        paused_routes: set[str] | frozenset[str] = frozenset(),
        skip_init: bool = False,
        seed: SeedCallable | None = None,
        root_correlation_id: str | None = None,
        init_payload: dict[str, Any] | None = None,
        config_id: str | None = None,
        replay_batch_id: str | None = None,
        role: ExecutionRole = "full",
        placement: Placement | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.role: ExecutionRole = role
        self.placement = placement or Placement()
        self._shared: SharedExecutionState | None = dependencies.shared_state if self.placement.shared else None
        if self.placement.shared and self._shared is None:
            raise ValueError("A shared placement needs a queue with shared state (Redis).")
        self._refresh_task: asyncio.Task[None] | None = None
        self.snapshot = snapshot
        self.callbacks = callbacks
        self.deps = dependencies
        self._initially_paused = set(paused_routes)
        self.skip_init = skip_init
        self._seed = seed
        self.root_correlation_id = root_correlation_id
        self._init_payload = init_payload
        self.config_id = config_id
        self.replay_batch_id = replay_batch_id
        self.storage = dependencies.storage

        self.phase: OrchestratorPhase = "created"
        self.config: PipelineGlobalConfig
        self.runtime: ExecutionRuntime
        self.processors: dict[str, ReactiveRouteProcessor] = {}
        self.adapters: dict[str, list[PipelineAdapter]] = {}
        self._started_adapters: list[PipelineAdapter] = []
        self.events = EventEmitter(dependencies.events, execution_id)
        self.accountant = CompletionAccountant((), on_change=self._counts_changed)
        self.scoped_queue = ExecutionScopedQueue(dependencies.queue, execution_id, accountant=self.accountant)
        self.progress = ProgressReporter(
            self.events, self._progress_data, interval=dependencies.options.progress_interval_seconds
        )
        self.signals = ExecutionSignals()
        self.watcher: CompletionWatcher | None = None
        """Built with the runtime, once the config is known (`start()`)."""
        self._seed_task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._finished = asyncio.Event()
        self.final_status: FinalStatus | None = None
        self.final_error: ErrorInfo | None = None
        self.started_at = time.monotonic()
        self._stage_counts: StageCounts | None = None

    # ------------------------------------------------------------------ observation

    def _counts_changed(self) -> None:
        # The supervisor only acts on counters once nothing is in flight; waking it on every
        # publish and ack would cost a loop turn (and a timeout) per message.
        if self.accountant.in_flight <= 0:
            self.signals.wakeup.set()
        self.progress.changed()

    def _progress_data(self) -> ExecutionProgress:
        counts = self.accountant.counts()
        stages = self._stage_counts
        return ExecutionProgress(
            published=counts.published,
            handled=counts.handled,
            in_flight=counts.in_flight,
            dead_lettered=counts.dead_lettered,
            completed_stages=stages.completed if stages is not None else 0,
            failed_stages=stages.failed if stages is not None else 0,
        )

    @property
    def is_finished(self) -> bool:
        return self._finished.is_set()

    @property
    def seeded(self) -> bool:
        return self.signals.seeded

    def route_statuses(self) -> list[RouteRuntimeStatus]:
        return [processor.status() for processor in self.processors.values()]

    async def wait(self) -> FinalStatus:
        """Wait until the execution ended and `on_stopped` returned."""
        await self._finished.wait()
        assert self.final_status is not None
        return self.final_status

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        """Run start steps 1–5 and launch the seed and the completion watch (step 6).

        Raises:
            ExecutionStartError: a step failed; the execution has been reported `failed`
                (`start_failed`) and everything that started was stopped.
        """
        self.phase = "starting"
        step = "configuration"
        try:
            self.config = self.snapshot.config
            self._build_runtime()
            if self._shared is not None and self.role == "full":
                step = "routes"
                await self._shared.mark_shared(self.execution_id)
            step = "adapters"
            for route_id, route in self.config.routes.items():
                if not self.runs_route(route_id):
                    continue
                self.adapters[route_id] = [
                    self.deps.adapters.create(entry.type, entry.config or None) for entry in route.adapters
                ]
            await self._start_adapters()
            step = "routes"
            self._build_processors()
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

    def runs_route(self, route_id: str) -> bool:
        """Whether this process runs `route_id` of the execution (its placement)."""
        routes = self.placement.routes
        return routes is None or route_id in routes

    def _build_runtime(self) -> None:
        config = self.config
        consumed = config.consumed_queues()
        self.accountant = CompletionAccountant(
            consumed,
            tolerated_failures=config.error_handling.tolerated_failures,
            on_change=self._counts_changed,
        )
        self.scoped_queue = ExecutionScopedQueue(self.deps.queue, self.execution_id, accountant=self.accountant)
        self._stage_counts = StageCounts(on_change=self.progress.changed)
        self.runtime = ExecutionRuntime(
            execution_id=self.execution_id,
            config=config,
            config_hash=self.snapshot.config_hash,
            config_id=self.config_id,
            config_version=self.snapshot.config_version,
            replay_batch_id=self.replay_batch_id,
            queue=self.scoped_queue,
            accountant=self.accountant,
            # Rows are built only for a recorder or an event sink, and hashed only for a recorder.
            stages=stage_facts(
                execution_id=self.execution_id,
                counts=self._stage_counts,
                recorder=self.deps.lineage,
                event_sink=self.events if self.deps.events is not None else None,
            ),
            stage_counts=self._stage_counts,
            events=self.events,
            storage=self.deps.storage,
            storage_backend=StorageBackendAdapter(
                self.deps.storage,
                retry_delays=self.deps.options.storage_write_retry_delays,
                counters=self.deps.storage_counters,
            ),
            metrics=self.deps.metrics,
            options=self.deps.options,
            execution_gate=asyncio.Semaphore(config.orchestrator.max_handlers),
            lineage_lookup=self.deps.lineage_lookup,
            consumed_queues=consumed,
        )
        options = self.deps.options
        self.watcher = CompletionWatcher(
            execution_id=self.execution_id,
            accountant=self.accountant,
            signals=self.signals,
            depths=self._depths,
            local_work=self.has_local_work,
            hold_reading=self._hold_reading,
            reconcile=self._run_reconciler if self.deps.reconciler is not None else None,
            timings=CompletionTimings(
                stall_check_interval_seconds=options.stall_check_interval_seconds,
                stall_timeout_seconds=options.stall_timeout_seconds,
                recheck_max_seconds=options.completion_recheck_max_seconds,
            ),
        )

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

    def _build_processors(self) -> None:
        config = self.config
        for route_id, route in config.routes.items():
            if not self.runs_route(route_id):
                continue
            self.processors[route_id] = ReactiveRouteProcessor(
                route_id=route_id,
                route=route,
                processor=config.processor_config(route_id),
                adapters=self.adapters[route_id],
                breakers=[config.breaker_for(route_id, index) for index in range(len(route.adapters))],
                runtime=self.runtime,
                counters=self.deps.metrics.route(route_id),
                pressure_queues=pressure_queues(config, route_id),
                paused=route_id in self._initially_paused,
                on_lost_state=self._on_lost_state,
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

        config = getattr(self, "config", None)
        timeout = config.orchestrator.adapter_start_timeout_seconds if config is not None else 60.0

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

    async def _fail_start(self, step: str, exc: BaseException) -> None:
        logger.error("Execution %r failed to start at step %r: %s", self.execution_id, step, exc)
        self.runtime_cancel()
        await self._stop_everything(0)
        code: Literal["orchestrator_unavailable", "queue_unavailable"] = (
            "queue_unavailable" if isinstance(exc, QueueError) or _has_queue_error(exc) else "orchestrator_unavailable"
        )
        error_info = ErrorInfo(
            "start_failed",
            f"The execution could not start ({step}): {_describe(exc)}",
            {"step": step, "error_type": type(exc).__name__, "error_code": code},
        )
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
        raise ExecutionStartError(
            f"Execution {self.execution_id!r} could not start: {_describe(exc)}",
            code=code,
            context={"execution_id": self.execution_id, "step": step},
        ) from exc

    def runtime_cancel(self) -> None:
        runtime = getattr(self, "runtime", None)
        if runtime is not None:
            runtime.cancelling.set()

    # ------------------------------------------------------------------ control

    def request_cancel(self) -> bool:
        """Start cancelling (returns at once); False if the execution is already ending."""
        if self.signals.stop_request is not None or self.is_finished:
            return False
        config = getattr(self, "config", None)
        grace = config.orchestrator.cancel_grace_seconds if config is not None else 30.0
        self.signals.request_stop("cancelled", grace)
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
        if paused:
            self._initially_paused.add(route_id)
        else:
            self._initially_paused.discard(route_id)
        processor = self.processors.get(route_id)
        if processor is not None:
            processor.set_paused(paused)
            return True
        config = getattr(self, "config", None)
        return config is not None and route_id in config.routes

    async def wait_for_capacity(self, route_id: str) -> None:
        processor = self.processors.get(route_id)
        if processor is not None:
            await processor.wait_for_capacity()

    async def _on_lost_state(self, queue: str, subscription: str) -> None:
        # A report during a reconciliation schedules at most one more pass (the flag is one bit).
        logger.warning("Queue %r of execution %r lost its state; reconciling", queue, self.execution_id)
        self.signals.report_lost_state()

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
            assert self.watcher is not None  # built by start(), which launched this task
            status, error_info, grace = await self.watcher.watch()
        except asyncio.CancelledError:
            await self._finish("interrupted", None, 0)
            raise
        except Exception as exc:
            logger.exception("Execution %r failed in the orchestrator", self.execution_id)
            status, error_info = "failed", ErrorInfo("orchestrator_error", _describe(exc))
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
            self.set_failure(ErrorInfo("start_failed", f"Seed task failed: {_describe(exc)}"))
        finally:
            self.signals.mark_seeded()

    async def total_depth(self) -> int | None:
        """Ready plus pending entries across the consumed queues; None if any depth is unknown."""
        return await self._watcher().total_depth()

    def has_local_work(self) -> bool:
        """A seed task or a delivery of the execution is running here."""
        seed_running = self._seed_task is not None and not self._seed_task.done()
        return seed_running or any(p.in_flight or p.outstanding() for p in self.processors.values())

    async def resync_from_queues(self) -> bool:
        """Make in-flight equal the entries the consumed queues hold (`CompletionWatcher`)."""
        return await self._watcher().resync_from_queues()

    async def seed_from_queues(self) -> None:
        """Start the counters from what the consumed queues kept (a resumed execution, Redis mode)."""
        await self._watcher().seed_from_queues()

    def _watcher(self) -> CompletionWatcher:
        if self.watcher is None:
            raise RuntimeError(f"Execution {self.execution_id!r} has not started")
        return self.watcher

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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _has_queue_error(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_has_queue_error(inner) for inner in exc.exceptions)
    return isinstance(exc, QueueError)
