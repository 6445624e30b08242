"""`RecoveryManager`: start-up recovery of executions a dead or stopped process left behind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from factflow_engine.runtime import (
    AdapterFactory,
    ExecutionScopedQueue,
    SeedContext,
    TooManyConcurrentExecutionsError,
)
from factflow_execution import ExecutionLauncher, ExecutionService, ExecutionSlot, ExecutionStatus, PipelineExecution
from factflow_foundation import FactflowError, ServiceUnavailableError, new_id, utc_now_rfc3339
from factflow_protocols import EnvelopeControl, ErrorInfo, QueueMessage, QueueProtocol, StorageProtocol

from ._lineage_index import LineageIndex
from ._lineage_rebuild import close_interrupted_rows, rebuild_lineage
from ._publisher import ReplayPublisher
from ._reinject import Reinjector

__all__ = ("RecoveryManager", "RecoveryMode", "RecoveryRecord", "RecoveryReport")

logger = logging.getLogger(__name__)

RecoveryMode = Literal["redis", "reinjection"]
"""`redis`: the queue kept the execution's streams; `reinjection`: they were rebuilt from storage and lineage."""

_PROBE_SUBSCRIPTION = "factflow.recovery.probe"
"""A consumer group no route uses: the depth a provider reports for it is the queue's full length."""
_PAGE_SIZE = 500
_LINEAGE_FLUSH_SECONDS = 10.0
_RUNNING: tuple[ExecutionStatus, ...] = ("running",)
_INTERRUPTED: tuple[ExecutionStatus, ...] = ("interrupted",)


@dataclass(frozen=True, slots=True)
class RecoveryRecord:
    """One resume of an execution, appended to its `metadata.recovery` (step 6)."""

    attempt: int
    """The execution's `recovery_count` after this resume."""
    at: str
    """When the resume happened (RFC 3339 UTC)."""
    mode: RecoveryMode
    reclaimed: int
    """Redis mode: entries found pending (claimed from the dead consumers)."""
    reinjected: int
    """Re-injection mode: messages published again."""
    unrecoverable: int
    """Failures counted at resume: DLQ entries (Redis mode), or messages that cannot be rebuilt
    and messages dead-lettered before the crash (re-injection mode)."""
    lineage_reconstructed: int
    """Lineage rows written back from sidecars (step 5)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "at": self.at,
            "mode": self.mode,
            "reclaimed": self.reclaimed,
            "reinjected": self.reinjected,
            "unrecoverable": self.unrecoverable,
            "lineage_reconstructed": self.lineage_reconstructed,
        }


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What `recover_all()` did; resumed executions go on running afterwards."""

    enabled: bool
    """False with `RECOVERY_ENABLED=0`: only step 1 ran."""
    interrupted: tuple[str, ...] = ()
    """Executions found `running` and marked `interrupted` (step 1)."""
    resumed: tuple[str, ...] = ()
    """Executions running again under their own id."""
    recovery_failed: tuple[str, ...] = ()
    """Executions left `interrupted` with `error_info.code = recovery_failed`."""
    backlog: tuple[str, ...] = ()
    """Executions waiting (still `interrupted`) for a slot; they take freed slots before new starts."""
    cancelled: tuple[str, ...] = ()
    """Executions whose accepted cancel is now applied instead of resuming them."""
    errors: Mapping[str, str] = field(default_factory=dict)
    """Executions that could not be resumed now (a dependency failed); they stay `interrupted`."""


class RecoveryManager:
    """Recovers the executions a previous process left `running` or `interrupted`.

    `recover_all()` runs before the API accepts requests:

    1. every `running` row without a live orchestrator here becomes `interrupted`;
    2. each `interrupted` execution, oldest first: an accepted cancel is applied; at
       `max_attempts` resumes, or with a snapshot that cannot be built (an adapter type is gone),
       it stays `interrupted` with `recovery_failed`; without a free slot it waits in a backlog
       that takes freed slots before new starts; otherwise it resumes under its id: lineage rows
       lost with the old process are rebuilt from sidecars (step 5), the row becomes `running`
       (`recovery_count` + 1, `recovered_at`), and an orchestrator starts from the snapshot with
       `skip_init` and a recovery seed;
    3. the seed picks **Redis mode** when the execution's streams still exist: dead consumers'
       entries are claimed (at subscribe), `in_flight` = Σ(pending + lag), failures = Σ DLQ
       lengths, the init message is published again (deduplication drops it) and an unfinished
       replay publisher runs again;
    4. otherwise **re-injection mode** (memory queue, lost Redis state): see `Reinjector`;
    6. the seed appends `{attempt, at, mode, reclaimed, reinjected, unrecoverable,
       lineage_reconstructed}` to the row's `metadata.recovery`.

    With `enabled=False` (`RECOVERY_ENABLED=0`) only step 1 runs.

    Args:
        service: The execution service (rows, cancel, lineage, recorder).
        launcher: Starts resumed executions, as it starts every execution (slots, including
            the recovery backlog).
        queue: The queue provider (mode detection, DLQ lengths).
        storage: The storage provider (sidecars, stored outputs).
        adapters: The live adapter registry (can the snapshot still be built?).
        reinjector: Re-injection; the one given to the manager as `reconciler`, ideally.
        enabled: `RECOVERY_ENABLED`.
        max_attempts: `RECOVERY_MAX_ATTEMPTS`.
    """

    def __init__(
        self,
        service: ExecutionService,
        *,
        launcher: ExecutionLauncher,
        queue: QueueProtocol,
        storage: StorageProtocol,
        adapters: AdapterFactory,
        reinjector: Reinjector | None = None,
        enabled: bool = True,
        max_attempts: int = 3,
    ) -> None:
        self.service = service
        self.launcher = launcher
        self.queue = queue
        self.storage = storage
        self.adapters = adapters
        self.reinjector = reinjector or Reinjector(
            executions=service.executions, lineage=service.lineage_repository, recorder=service.recorder
        )
        self.enabled = enabled
        self.max_attempts = max_attempts
        self.records: dict[str, RecoveryRecord] = {}
        """The latest recovery record of each execution resumed by this manager."""
        self._backlog: list[asyncio.Task[None]] = []
        self._waiting: set[str] = set()

    # ------------------------------------------------------------------ recover_all

    async def recover_all(self) -> RecoveryReport:
        """Run recovery steps 1–2 now; seeds (steps 3–6) and the backlog go on in the background.

        Per-execution problems never raise: they are logged and reported in `errors`.

        Raises:
            ServiceUnavailableError: the database is down (step 1 or the listing failed).
        """
        interrupted = await self._interrupt_running()
        if not self.enabled:
            if interrupted:
                logger.warning("Recovery is disabled: %d execution(s) stay interrupted", len(interrupted))
            return RecoveryReport(enabled=False, interrupted=tuple(interrupted))
        resumed: list[str] = []
        failed: list[str] = []
        cancelled: list[str] = []
        backlog: list[PipelineExecution] = []
        errors: dict[str, str] = {}
        for execution in await self._interrupted_rows():
            execution_id = execution.execution_id
            if execution_id in self._waiting:
                continue  # already in the backlog of an earlier call
            try:
                if execution.cancel_requested:
                    await self.service.cancel(execution_id, "cancel accepted before the server stopped")
                    cancelled.append(execution_id)
                    continue
                reason = self._cannot_resume(execution)
                if reason is not None:
                    await self._mark_failed(execution, reason)
                    failed.append(execution_id)
                    continue
                if backlog:
                    backlog.append(execution)  # keep oldest-first order behind the first waiter
                    continue
                try:
                    reservation = self.launcher.reserve(execution_id)
                except TooManyConcurrentExecutionsError:
                    backlog.append(execution)
                    continue
                if await self._resume(execution, reservation):
                    resumed.append(execution_id)
            except Exception as exc:
                logger.exception("Recovery of execution %s failed", execution_id)
                errors[execution_id] = str(exc) or type(exc).__name__
        for execution in backlog:
            self._waiting.add(execution.execution_id)
            self._backlog.append(
                asyncio.create_task(
                    self._resume_when_free(execution.execution_id), name=f"recovery-backlog:{execution.execution_id}"
                )
            )
        if backlog:
            await asyncio.sleep(0)  # let every backlog task queue for a slot before anything else can
        report = RecoveryReport(
            enabled=True,
            interrupted=tuple(interrupted),
            resumed=tuple(resumed),
            recovery_failed=tuple(failed),
            backlog=tuple(execution.execution_id for execution in backlog),
            cancelled=tuple(cancelled),
            errors=errors,
        )
        logger.info(
            "Recovery: %d interrupted, %d resumed, %d recovery_failed, %d waiting for a slot, %d cancelled, %d errors",
            len(report.interrupted),
            len(report.resumed),
            len(report.recovery_failed),
            len(report.backlog),
            len(report.cancelled),
            len(report.errors),
        )
        return report

    async def join(self) -> None:
        """Wait until every backlog execution has been resumed (or given up)."""
        if self._backlog:
            await asyncio.gather(*self._backlog, return_exceptions=True)

    async def shutdown(self) -> None:
        """Stop waiting for slots (backlog executions stay `interrupted`); idempotent."""
        tasks, self._backlog = self._backlog, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ step 1

    async def _interrupt_running(self) -> list[str]:
        executions = self.service.executions
        running: list[str] = []
        offset = 0
        while True:
            page = await executions.list(status="running", sort_order="asc", limit=_PAGE_SIZE, offset=offset)
            running += [execution.execution_id for execution in page.items]
            offset += len(page.items)
            if not page.items or offset >= page.total:
                break
        changed: list[str] = []
        for execution_id in running:
            if self.launcher.manager.is_live(execution_id):
                continue  # ours: recover_all ran after this process started executions
            if await executions.transition(execution_id, "interrupted", from_statuses=_RUNNING):
                changed.append(execution_id)
        if changed:
            logger.warning("%d execution(s) were left running and are now interrupted", len(changed))
        return changed

    # ------------------------------------------------------------------ step 2

    async def _interrupted_rows(self) -> list[PipelineExecution]:
        executions = self.service.executions
        rows: list[PipelineExecution] = []
        offset = 0
        while True:
            page = await executions.list(status="interrupted", sort_order="asc", limit=_PAGE_SIZE, offset=offset)
            rows += page.items
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return rows

    def _cannot_resume(self, execution: PipelineExecution) -> str | None:
        """Why the execution must stay `interrupted`, or None when it can resume."""
        if execution.recovery_count >= self.max_attempts:
            return f"it was already recovered {execution.recovery_count} time(s) (limit {self.max_attempts})"
        problem = execution.stored_snapshot.problem
        if problem is not None:
            return f"its stored config snapshot does not validate ({problem})"
        config = execution.config_snapshot.config
        for route_id, route in config.routes.items():
            for position, adapter in enumerate(route.adapters):
                try:
                    self.adapters.create(adapter.type, adapter.config or None)
                except Exception as exc:
                    return f"adapter {position} ({adapter.type!r}) of route {route_id!r} cannot be built: {exc}"
        return None

    async def _mark_failed(self, execution: PipelineExecution, reason: str) -> None:
        error_info = ErrorInfo(
            "recovery_failed",
            f"Execution {execution.execution_id} cannot be recovered: {reason}.",
            {"recovery_count": execution.recovery_count, "max_attempts": self.max_attempts},
        )
        logger.error("%s", error_info.message)
        await self.service.executions.update_fields(
            execution.execution_id, {"error_info": error_info.as_dict()}, when_status=_INTERRUPTED
        )

    async def _resume_when_free(self, execution_id: str) -> None:
        try:
            await self._resume_waiting(execution_id)
        except Exception:  # a backlog task has nobody to report to; it stays `interrupted`
            logger.exception("Recovery of execution %s failed while it waited for a slot", execution_id)
        finally:
            self._waiting.discard(execution_id)

    async def _resume_waiting(self, execution_id: str) -> None:
        reservation = await self.launcher.reserve_when_free(execution_id)
        try:
            execution = await self.service.executions.get(execution_id)
        except BaseException:
            reservation.release()
            raise
        if execution.status != "interrupted" or execution.cancel_requested:
            reservation.release()  # cancelled or changed by an admin while it waited
            if execution.status == "interrupted":
                await self.service.cancel(execution_id, "cancel accepted while waiting for recovery")
            return
        await self._resume(execution, reservation)

    async def _resume(self, execution: PipelineExecution, reservation: ExecutionSlot) -> bool:
        """Steps 5 and 2 (resume); the seed does 3/4 and 6. False when another actor changed the row."""
        executions = self.service.executions
        execution_id = execution.execution_id
        try:
            config = execution.config_snapshot.config
            index = await LineageIndex.load(self.service.lineage_repository, execution_id)
            rebuilt = await rebuild_lineage(execution_id=execution_id, config=config, storage=self.storage, index=index)
            closed = close_interrupted_rows(index, rebuilt)
            recorder = self.service.recorder
            if (rebuilt or closed) and recorder is not None:
                for record in [*rebuilt, *closed]:
                    recorder.record(record)
                if not await recorder.flush(execution_id, timeout=_LINEAGE_FLUSH_SECONDS):
                    logger.warning("Rebuilt lineage of execution %s was not fully written", execution_id)
            if not await executions.resume(execution_id):
                reservation.release()
                return False
            if execution.error_info is not None:
                await executions.update_fields(execution_id, {"error_info": None}, when_status=_RUNNING)
            resumed = await executions.get(execution_id)
        except BaseException:
            reservation.release()
            raise
        seed = _RecoverySeed(self, resumed, index=index, lineage_reconstructed=len(rebuilt))
        logger.info(
            "Resuming execution %s (attempt %d, %d lineage row(s) rebuilt)",
            execution_id,
            resumed.recovery_count,
            len(rebuilt),
        )
        await self.launcher.launch(resumed, reservation, skip_init=True, seed=seed)
        return True


class _RecoverySeed:
    """The seed of a resumed execution: Redis mode or re-injection, then the recovery record."""

    def __init__(
        self,
        recovery: RecoveryManager,
        execution: PipelineExecution,
        *,
        index: LineageIndex,
        lineage_reconstructed: int,
    ) -> None:
        self.recovery = recovery
        self.execution = execution
        self.index = index
        self.lineage_reconstructed = lineage_reconstructed

    async def __call__(self, context: SeedContext) -> None:
        at = utc_now_rfc3339()
        scoped = ExecutionScopedQueue(self.recovery.queue, self.execution.execution_id)
        reclaimed = reinjected = unrecoverable = 0
        mode: RecoveryMode
        if await self._streams_exist(context, scoped):
            mode = "redis"
            reclaimed, unrecoverable = await self._redis_mode(context, scoped)
        else:
            mode = "reinjection"
            result = await self.recovery.reinjector.reinject(
                context, self.execution, index=self.index, count_dead_letters=True
            )
            reinjected, unrecoverable = result.reinjected, result.unrecoverable
        record = RecoveryRecord(
            attempt=self.execution.recovery_count,
            at=at,
            mode=mode,
            reclaimed=reclaimed,
            reinjected=reinjected,
            unrecoverable=unrecoverable,
            lineage_reconstructed=self.lineage_reconstructed,
        )
        self.recovery.records[self.execution.execution_id] = record
        logger.info("Execution %s recovered: %s", self.execution.execution_id, record.as_dict())
        await self._append_record(record)

    async def _streams_exist(self, context: SeedContext, scoped: ExecutionScopedQueue) -> bool:
        """Whether any queue of the execution still holds entries (Redis streams are never trimmed)."""
        for queue in context.snapshot.all_queues():
            depth = await scoped.depth(queue, _PROBE_SUBSCRIPTION)
            if depth.ready + depth.pending > 0:
                return True
        return False

    async def _redis_mode(self, context: SeedContext, scoped: ExecutionScopedQueue) -> tuple[int, int]:
        config = context.config
        failures = 0
        for queue in dict.fromkeys(config.processor_config(route_id).dead_letter_queue for route_id in config.routes):
            failures += (await scoped.depth(queue, _PROBE_SUBSCRIPTION)).ready
        # The streams keep what every group read and settled, so the counts start where the dead
        # process left them; an entry it handled but never acked is still pending and counts once,
        # when it settles now.
        pending = 0
        for route_id in config.routes:
            processor = config.processor_config(route_id)
            pending += (await scoped.depth(processor.inbound_queue, processor.subscription)).pending
        await context.seed_counts_from_queues()
        context.record_found_dead_letters(failures)
        execution = self.execution
        init = config.init_message
        if init is not None and execution.root_correlation_id is not None and init.route in config.routes:
            payload = execution.init_payload if execution.init_payload is not None else init.payload
            await context.publish_to_route(
                init.route,
                QueueMessage(
                    id=execution.root_correlation_id,
                    payload=dict(payload),
                    control=EnvelopeControl(trace_id=new_id()),
                ),
            )
        if execution.replay and execution.replay.get("publish_status") == "publishing":
            publisher = await ReplayPublisher.for_execution(
                execution, storage=context.storage, executions=self.recovery.service.executions
            )
            await publisher(context)
        return pending, failures

    async def _append_record(self, record: RecoveryRecord) -> None:
        executions = self.recovery.service.executions
        execution_id = self.execution.execution_id
        try:
            current = await executions.get(execution_id)
            metadata = dict(current.metadata)
            history = metadata.get("recovery")
            metadata["recovery"] = [*(history if isinstance(history, list) else []), record.as_dict()]
            await executions.update_fields(execution_id, {"metadata": metadata})
        except (ServiceUnavailableError, FactflowError) as exc:  # the record is informative only
            logger.warning("Could not store the recovery record of %s: %s", execution_id, exc)
