"""`OrchestratorManager`: the process's executions, their slots, pauses and counters."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NoReturn

from factflow_engine._ports import EngineEventSink, OrchestratorCallbacks, PauseStateStore, RoutePause
from factflow_engine.config import ConfigSnapshot
from factflow_protocols import LineageSink, QueueProtocol, StorageProtocol

from ..storage import StorageCounters
from ._accounting import MessageCounts
from ._builder import ExecutionBuilder, ExecutionBuildError, ExecutionPlan
from ._circuit_breaker import AdapterCircuitMetrics
from ._context import AdapterFactory, LineageLookup, RuntimeDependencies, RuntimeOptions
from ._errors import ExecutionStartError, TooManyConcurrentExecutionsError
from ._metrics import MetricsRegistry
from ._orchestrator import PipelineOrchestrator
from ._route import ReactiveRouteProcessor, RouteRuntimeStatus
from ._seed import SeedCallable
from ._shared import ExecutionRole, LineageCountsCallable, LineageRepairCallable, Placement, SharedExecutionState
from ._start_failure import start_failure

__all__ = ("ExecutionReservation", "OrchestratorManager")

logger = logging.getLogger(__name__)


class ExecutionReservation:
    """A slot held for one execution between `reserve()` and `start()`.

    `release()` gives the slot back if the execution will not be started; it is a no-op once the
    execution started (the manager frees that slot itself, after `on_stopped`).
    """

    def __init__(self, manager: OrchestratorManager, execution_id: str) -> None:
        self._manager = manager
        self.execution_id = execution_id
        self.started = False
        self.released = False

    def release(self) -> None:
        if self.started or self.released:
            return
        self.released = True
        self._manager._free(self.execution_id, self)  # the manager's own bookkeeping

    def __repr__(self) -> str:
        return f"ExecutionReservation({self.execution_id!r}, started={self.started}, released={self.released})"


@dataclass(slots=True)
class _Slot:
    reservation: ExecutionReservation
    orchestrator: PipelineOrchestrator | None = None
    watcher: asyncio.Task[None] | None = None


class OrchestratorManager:
    """Holds at most `max_concurrent_executions` executions (starting, running or stopping).

    Typical use (the execution service):

    ```python
    reservation = manager.reserve(execution_id)          # before the row exists
    try:
        ...                                             # insert the row
    except BaseException:
        reservation.release()
        raise
    await manager.start(reservation, snapshot, callbacks=callbacks)   # returns once the init message is out
    ```

    Args:
        queue: The queue provider (connected).
        storage: The storage provider (started).
        adapters: Builds adapter instances (`ValidatingAdapterRegistry`).
        lineage: Takes lineage row states (`LineageRecorder`); rows are dropped when omitted.
        lineage_lookup: Loads a message's rows in one route for the resume walk
            (`LineageRepository.rows_for_message`).
        events: Receives engine events (`ExecutionEventHub`).
        pause_store: Persists global route pauses (`RoutePauseRepository`); in memory when omitted.
        max_concurrent_executions: Capacity (`MAX_CONCURRENT_EXECUTIONS`).
        shutdown_grace_seconds: Default drain time of `shutdown()` (`SHUTDOWN_GRACE_SECONDS`).
        options: Runtime tunables (`max_message_bytes`, sampling and backoff periods).
        reconciler: Re-injects lost messages when an execution stalls (factflow-replay).
        shared_state: The queue's cross-process state (Redis); needed for shared placements.
        lineage_repair: Writes back lineage rows a dead worker lost (factflow-replay `LineageRepair`).
        lineage_counts: Counts a shared execution's messages from lineage once its queues lost their
            state (factflow-replay `LineageRepair.counts`).
        placement: Decides, per execution, which routes run here and whether its counts are
            shared (the server's worker pools); every route runs here, counted locally, when omitted.
        role: `worker` runs only route processors of the executions it is given (a worker process).
    """

    def __init__(
        self,
        *,
        queue: QueueProtocol,
        storage: StorageProtocol,
        adapters: AdapterFactory,
        lineage: LineageSink | None = None,
        lineage_lookup: LineageLookup | None = None,
        events: EngineEventSink | None = None,
        pause_store: PauseStateStore | None = None,
        max_concurrent_executions: int = 10,
        shutdown_grace_seconds: float = 30.0,
        options: RuntimeOptions | None = None,
        reconciler: SeedCallable | None = None,
        shared_state: SharedExecutionState | None = None,
        lineage_repair: LineageRepairCallable | None = None,
        lineage_counts: LineageCountsCallable | None = None,
        placement: Callable[[ConfigSnapshot], Awaitable[Placement]] | None = None,
        role: ExecutionRole = "full",
    ) -> None:
        if max_concurrent_executions < 1:
            raise ValueError("max_concurrent_executions must be at least 1")
        self.max_concurrent_executions = max_concurrent_executions
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self._pause_store = pause_store
        self.metrics_registry = MetricsRegistry()
        self.storage_counters = StorageCounters()
        self._dependencies = RuntimeDependencies(
            queue=queue,
            storage=storage,
            adapters=adapters,
            metrics=self.metrics_registry,
            storage_counters=self.storage_counters,
            options=options or RuntimeOptions(),
            lineage=lineage,
            lineage_lookup=lineage_lookup,
            events=events,
            reconciler=reconciler,
            shared_state=shared_state,
            lineage_repair=lineage_repair,
            lineage_counts=lineage_counts,
        )
        self._builder = ExecutionBuilder(self._dependencies)
        self._placement = placement
        self.role: ExecutionRole = role
        self._slots: dict[str, _Slot] = {}
        self._waiters: deque[tuple[str, asyncio.Future[ExecutionReservation]]] = deque()
        self._paused: dict[str, RoutePause] = {}
        self._closing = False
        self._slot_freed = asyncio.Event()

    async def __aenter__(self) -> OrchestratorManager:
        await self.load_paused_routes()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ pauses

    async def load_paused_routes(self) -> dict[str, RoutePause]:
        """Load the stored pause flags (server start-up step 9); new executions start with them."""
        if self._pause_store is not None:
            self._paused = dict(await self._pause_store.load_paused())
        return dict(self._paused)

    def paused_routes(self) -> dict[str, RoutePause]:
        """Every globally paused route name."""
        return dict(self._paused)

    async def pause_route(self, route_id: str, reason: str | None = None) -> list[str]:
        """Persist the pause, then stop reading in every live processor of `route_id`.

        Returns the ids of the live executions with that route. Running invocations finish and
        still publish; queued messages wait (they keep their executions `running`).
        """
        stored = await self._store_pause(route_id, paused=True, reason=reason)
        self._paused[route_id] = stored
        return self._apply_pause(route_id, True)

    async def resume_route(self, route_id: str) -> list[str]:
        """Clear the flag (persisted first) and resume reading; returns the affected execution ids."""
        await self._store_pause(route_id, paused=False, reason=None)
        self._paused.pop(route_id, None)
        return self._apply_pause(route_id, False)

    async def _store_pause(self, route_id: str, *, paused: bool, reason: str | None) -> RoutePause:
        if self._pause_store is not None:
            return await self._pause_store.set_paused(route_id, paused=paused, reason=reason)
        return RoutePause(
            route_id=route_id, paused=paused, paused_at=datetime.now(UTC) if paused else None, reason=reason
        )

    def apply_stored_pauses(self, paused: dict[str, RoutePause]) -> None:
        """Follow pause flags another process stored (a worker re-reading them), without storing them."""
        before = set(self._paused)
        self._paused = dict(paused)
        for route_id in before - set(paused):
            self._apply_pause(route_id, False)
        for route_id in set(paused) - before:
            self._apply_pause(route_id, True)

    def _apply_pause(self, route_id: str, paused: bool) -> list[str]:
        affected: list[str] = []
        for execution_id, orchestrator in self._live():
            # Workers running the route follow the stored flag; their executions are affected too.
            if orchestrator.set_paused(route_id, paused) or route_id in orchestrator.remote_route_ids():
                affected.append(execution_id)
        return affected

    # ------------------------------------------------------------------ slots

    def _live(self) -> list[tuple[str, PipelineOrchestrator]]:
        return [
            (execution_id, slot.orchestrator)
            for execution_id, slot in self._slots.items()
            if slot.orchestrator is not None and not slot.orchestrator.is_finished
        ]

    @property
    def slots_in_use(self) -> int:
        """Executions reserved, starting, running or stopping."""
        return len(self._slots)

    def reserve(self, execution_id: str) -> ExecutionReservation:
        """Hold a slot for `execution_id` (before its row is created).

        Raises:
            TooManyConcurrentExecutionsError: the cap is reached (slots waited for by
                `reserve_when_free` count as taken).
            ExecutionStartError: the manager is shutting down.
        """
        if self._closing:
            raise _shutting_down(execution_id)
        if execution_id in self._slots:
            raise ValueError(f"Execution {execution_id!r} already holds a slot.")
        if len(self._slots) + len(self._waiters) >= self.max_concurrent_executions:
            raise TooManyConcurrentExecutionsError(
                f"{self.max_concurrent_executions} executions are already running; try again later.",
                context={"max_concurrent": self.max_concurrent_executions, "running": len(self._slots)},
            )
        return self._take(execution_id)

    async def reserve_when_free(self, execution_id: str) -> ExecutionReservation:
        """Wait for a slot; waiters get freed slots before new `reserve()` calls (recovery backlog)."""
        if self._closing:
            raise _shutting_down(execution_id)
        if not self._waiters and len(self._slots) < self.max_concurrent_executions:
            return self._take(execution_id)
        waiter: asyncio.Future[ExecutionReservation] = asyncio.get_running_loop().create_future()
        entry = (execution_id, waiter)
        self._waiters.append(entry)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                waiter.result().release()
            raise
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _take(self, execution_id: str) -> ExecutionReservation:
        reservation = ExecutionReservation(self, execution_id)
        self._slots[execution_id] = _Slot(reservation)
        return reservation

    def _free(self, execution_id: str, reservation: ExecutionReservation | None = None) -> None:
        slot = self._slots.get(execution_id)
        if slot is None or (reservation is not None and slot.reservation is not reservation):
            return
        del self._slots[execution_id]
        self._slot_freed.set()
        self._slot_freed = asyncio.Event()
        while self._waiters and len(self._slots) < self.max_concurrent_executions and not self._closing:
            waiting_id, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(self._take(waiting_id))

    # ------------------------------------------------------------------ start

    async def start(
        self,
        reservation: ExecutionReservation,
        snapshot: ConfigSnapshot,
        *,
        callbacks: OrchestratorCallbacks,
        skip_init: bool = False,
        seed: SeedCallable | None = None,
        root_correlation_id: str | None = None,
        init_payload: dict[str, Any] | None = None,
        config_id: str | None = None,
        replay_batch_id: str | None = None,
        source: str | None = None,
        placement: Placement | None = None,
    ) -> PipelineOrchestrator:
        """Start the reserved execution; returns once its init message is published.

        Args:
            reservation: From `reserve()` or `reserve_when_free()`.
            snapshot: The execution's frozen config.
            callbacks: Told `on_started` and, exactly once, `on_stopped`; the slot frees after it.
            skip_init: Do not publish the init message (replay, recovery).
            seed: A task owned by the execution (replay publisher, recovery re-injection); it gets
                a `SeedContext`. Cancelling the execution cancels it.
            root_correlation_id: The init message id (new when omitted; recovery passes the old one).
            init_payload: The effective init payload (after overrides).
            config_id: The stored config (copied into sidecars).
            replay_batch_id: The batch of a replay execution.
            source: Execution source for metrics (`api`, `cli`, `replay`, ...).
            placement: The routes run here (the manager's `placement` policy decides when omitted).

        Raises:
            ExecutionStartError: start-up failed; `on_stopped(id, "failed", ErrorInfo("start_failed", ...))`
                was called and the slot is free again.
        """
        execution_id = reservation.execution_id
        if self._closing:
            reservation.release()
            raise _shutting_down(execution_id)
        slot = self._slots.get(execution_id)
        if slot is None or slot.reservation is not reservation or reservation.started:
            raise ValueError(f"No open reservation for execution {execution_id!r}.")
        reservation.started = True
        if placement is None and self._placement is not None:
            try:
                placement = await self._placement(snapshot)
            except BaseException:
                self._free(execution_id)
                raise
        plan = ExecutionPlan(
            execution_id=execution_id,
            snapshot=snapshot,
            skip_init=skip_init,
            seed=seed,
            root_correlation_id=root_correlation_id,
            init_payload=init_payload,
            config_id=config_id,
            replay_batch_id=replay_batch_id,
            role=self.role,
            placement=placement or Placement(),
        )
        self.metrics_registry.executions_started_total += 1
        self.metrics_registry.executions_started_by_source[source or "unknown"] += 1
        try:
            built = self._builder.build(plan, paused_routes=set(self._paused))
        except ExecutionBuildError as exc:
            self._free(execution_id)
            await _report_build_failure(plan, callbacks, exc)
        orchestrator = PipelineOrchestrator(built, callbacks=callbacks, dependencies=self._dependencies)
        slot.orchestrator = orchestrator
        try:
            await orchestrator.start()
        except BaseException:
            self._free(execution_id)
            raise
        slot.watcher = asyncio.create_task(
            self._watch(execution_id, orchestrator), name=f"execution-slot:{execution_id}"
        )
        return orchestrator

    async def _watch(self, execution_id: str, orchestrator: PipelineOrchestrator) -> None:
        try:
            await orchestrator.wait()
        finally:
            self._free(execution_id)

    # ------------------------------------------------------------------ control and queries

    def orchestrator(self, execution_id: str) -> PipelineOrchestrator | None:
        """The live orchestrator of `execution_id`, if any."""
        slot = self._slots.get(execution_id)
        return slot.orchestrator if slot is not None else None

    def is_live(self, execution_id: str) -> bool:
        """Whether this process runs (or is starting or stopping) `execution_id`."""
        slot = self._slots.get(execution_id)
        return slot is not None and slot.orchestrator is not None

    def live_execution_ids(self) -> list[str]:
        return [execution_id for execution_id, _ in self._live()]

    def cancel(self, execution_id: str) -> bool:
        """Start cancelling a live execution and return at once; False if it is not live here."""
        orchestrator = self.orchestrator(execution_id)
        if orchestrator is None:
            return False
        return orchestrator.request_cancel()

    def message_counts(self, execution_id: str) -> MessageCounts | None:
        """Live `published, handled, in_flight, dead_lettered, tolerated_failures`; None if not live."""
        orchestrator = self.orchestrator(execution_id)
        return orchestrator.accountant.counts() if orchestrator is not None else None

    def route_statuses(self, execution_id: str) -> list[RouteRuntimeStatus]:
        """Live route states of one execution (empty when it is not live)."""
        orchestrator = self.orchestrator(execution_id)
        return orchestrator.route_statuses(self._paused) if orchestrator is not None else []

    def list_routes(self) -> list[RouteRuntimeStatus]:
        """Route states of the processors running here, in every live execution."""
        return [status for _, orchestrator in self._live() for status in orchestrator.route_statuses()]

    def route_execution_ids(self, route_id: str) -> list[str]:
        """Live executions running `route_id`, here or (for a shared execution) in worker processes."""
        return [
            execution_id
            for execution_id, orchestrator in self._live()
            if route_id in orchestrator.processors or route_id in orchestrator.remote_route_ids()
        ]

    def known_route_ids(self) -> set[str]:
        """Route ids with a live processor (here or, for a shared execution, on workers), plus every paused name."""
        ids = {
            route_id
            for _, orchestrator in self._live()
            for route_id in (*orchestrator.processors, *orchestrator.remote_route_ids())
        }
        return ids | set(self._paused)

    def circuit_breakers(self, execution_id: str | None = None) -> list[AdapterCircuitMetrics]:
        """Every live adapter breaker (of one execution, or of all)."""
        return [
            metric
            for live_id, orchestrator in self._live()
            if execution_id is None or live_id == execution_id
            for processor in orchestrator.processors.values()
            for metric in processor.circuit_metrics()
        ]

    def live_processors(self, route_id: str | None = None) -> list[tuple[str, ReactiveRouteProcessor]]:
        """`(execution_id, processor)` of every live route processor (of one route name, or all)."""
        return [
            (execution_id, processor)
            for execution_id, orchestrator in self._live()
            for processor_id, processor in orchestrator.processors.items()
            if route_id is None or processor_id == route_id
        ]

    def live_in_flight(self) -> int:
        """Messages in flight across the live executions."""
        return sum(max(0, orchestrator.accountant.in_flight) for _, orchestrator in self._live())

    # ------------------------------------------------------------------ shutdown

    async def shutdown(self, grace_seconds: float | None = None) -> None:
        """Stop reading, let running invocations drain up to the grace, cancel the rest; idempotent.

        Every live execution ends `interrupted` (rows of cancelled invocations become
        `cancelled`, deliveries stay unacked); returns once every `on_stopped` returned.
        """
        grace = self.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        self._closing = True
        for _, waiter in list(self._waiters):
            if not waiter.done():
                waiter.cancel()
        self._waiters.clear()
        for slot in list(self._slots.values()):
            if slot.orchestrator is None:
                slot.reservation.release()
            else:
                slot.orchestrator.request_stop(grace)
        while self._slots:
            pending = [slot for slot in self._slots.values() if slot.orchestrator is not None]
            for slot in pending:
                assert slot.orchestrator is not None
                slot.orchestrator.request_stop(grace)
            freed = self._slot_freed
            await freed.wait()
        logger.info("Orchestrator manager stopped")


async def _report_build_failure(
    plan: ExecutionPlan, callbacks: OrchestratorCallbacks, failure: ExecutionBuildError
) -> NoReturn:
    """Report a build failure exactly like a failed start (`on_stopped(failed, start_failed)`), then raise."""
    execution_id = plan.execution_id
    counts = MessageCounts(
        published=0,
        handled=0,
        in_flight=0,
        dead_lettered=0,
        tolerated_failures=plan.snapshot.config.error_handling.tolerated_failures,
    )
    logger.error("Execution %r failed to start at step %r: %s", execution_id, failure.step, failure.cause)
    error_info, error = start_failure(execution_id, failure.step, failure.cause)
    try:
        await callbacks.on_stopped(execution_id, "failed", error_info, counts.as_dict())
    except Exception:
        logger.exception("on_stopped callback failed for execution %r", execution_id)
    raise error from failure.cause


def _shutting_down(execution_id: str) -> ExecutionStartError:
    return ExecutionStartError("The orchestrator manager is shutting down.", context={"execution_id": execution_id})
