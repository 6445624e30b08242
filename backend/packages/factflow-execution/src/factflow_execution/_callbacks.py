"""`ExecutionStatusCallbackAdapter`: records how an execution ended (docs/concepts/executions.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Final

from factflow_engine._ports import FinalStatus
from factflow_foundation import Backoff, ServiceUnavailableError, utc_now
from factflow_lineage import LineageRecorder
from factflow_protocols import ErrorInfo, ExecutionStatusChanged

from ._calculator import StatsCalculator
from ._execution_repository import PipelineExecutionRepository
from ._hub import ExecutionEventHub
from ._types import ExecutionStatus
from .views import ExecutionStats, MessageCounts

__all__ = ("LINEAGE_FLUSH_SECONDS", "ExecutionStatusCallbackAdapter", "seal_route_counts")

logger = logging.getLogger(__name__)

LINEAGE_FLUSH_SECONDS: Final = 5.0
"""How long `on_stopped` waits for the execution's lineage rows to be written."""
_FIRST_RETRY_SECONDS: Final = 0.5
_RUNNING: tuple[ExecutionStatus, ...] = ("running",)


async def seal_route_counts(
    stats: StatsCalculator,
    executions: PipelineExecutionRepository,
    execution_id: str,
    *,
    status: ExecutionStatus,
    frozen: Mapping[str, Any],
) -> None:
    """Seal the route counters of an execution stored final with `frozen` route counts (best effort).

    Sealed after the final status is stored, so an execution that may still run is never sealed;
    a write between freezing and sealing is caught by storing the sealed counts. A failure only
    leaves the counters unsealed (they keep following writes, the message rows stay).
    """
    try:
        sealed = await stats.seal_route_counts(execution_id)
        if sealed != frozen:
            await executions.update_fields(execution_id, {"route_counts": sealed}, when_status=(status,))
    except Exception:  # the final status is stored; sealing only saves space
        logger.warning("Could not seal the route counters of execution %s", execution_id, exc_info=True)


class ExecutionStatusCallbackAdapter:
    """Implements the engine's `OrchestratorCallbacks` for executions stored in the database.

    `on_started` emits `execution.status` (`running`). `on_stopped` runs, in order:

    1. flush the execution's lineage (up to 5 s);
    2. compute the stats and the per-route message counts (read later by the detail, routes and
       event snapshot of the stopped execution instead of its lineage rows) — only when step 1
       wrote everything: otherwise they stay unset and `ExecutionService` freezes them on the first
       read after the recorder has written the execution's last row;
    3. the conditional update `running` → final status, with `completed_at`, `duration_ms`,
       `error_info`, `message_counts`, the frozen stats and route counts — retried with backoff (0.5 s doubling
       up to 30 s) for as long as the process lives while the database is unavailable;
    4. when the final status is `completed`, `failed` or `cancelled` and the route counts were
       frozen: seal the execution's route counters (`StatsCalculator.seal_route_counts`; late
       writes no longer move them, its per-message counter rows go in the background), storing
       the sealed counts if a write came in between — best effort;
    5. emit `execution.status` and end the execution's streams (`terminal`, or `shutdown`
       while the server stops);
    6. return — only then does the manager free the slot.

    A caller that finds the row no longer `running` (an admin update won the race) stops after
    step 3: whoever changed the row announced it.

    Args:
        executions: Execution rows.
        hub: The event hub.
        stats: Stats from lineage.
        recorder: The lineage recorder to flush; skipped when `None`.
        flush_timeout: Step 1's bound in seconds.
        retry_initial_delay: First pause before retrying step 3 (doubles each time).
        retry_max_delay: Longest pause between two attempts of step 3.
    """

    def __init__(
        self,
        *,
        executions: PipelineExecutionRepository,
        hub: ExecutionEventHub,
        stats: StatsCalculator,
        recorder: LineageRecorder | None = None,
        flush_timeout: float = LINEAGE_FLUSH_SECONDS,
        retry_initial_delay: float = _FIRST_RETRY_SECONDS,
        retry_max_delay: float = 30.0,
    ) -> None:
        self._executions = executions
        self._hub = hub
        self._stats = stats
        self._recorder = recorder
        self._flush_timeout = flush_timeout
        self._retry_initial_delay = retry_initial_delay
        self._retry_max_delay = retry_max_delay

    async def _flush_lineage(self, execution_id: str) -> bool:
        """Whether the execution's lineage is all written (stats and counts may be frozen from it)."""
        if self._recorder is None:
            return True
        try:
            if await self._recorder.flush(execution_id, timeout=self._flush_timeout):
                return True
            logger.warning(
                "Lineage of execution %s is still being written; its stats freeze on a later read", execution_id
            )
        except Exception:  # lineage never blocks the final status
            logger.exception("Flushing lineage of execution %s failed", execution_id)
        return False

    async def on_started(self, execution_id: str) -> None:
        """Announce the running execution on its stream."""
        self._hub.emit(execution_id, ExecutionStatusChanged("running", None))

    async def on_stopped(
        self,
        execution_id: str,
        status: FinalStatus,
        error_info: ErrorInfo | None,
        message_counts: dict[str, int],
    ) -> None:
        """Flush lineage, freeze stats and counts, store the final status, then announce it.

        During a database outage this waits for the database: the final status, and the lineage
        rows it is announced with, are written once it is back.
        """
        completed_at = utc_now()
        stats: ExecutionStats | None = None
        route_counts: dict[str, Any] | None = None
        counts: dict[str, object] | None = None
        backoff = Backoff(self._retry_initial_delay, self._retry_max_delay)
        while True:
            try:
                execution = await self._executions.get(execution_id)
                # The database answers: the execution's buffered lineage can be written now.
                lineage_written = await self._flush_lineage(execution_id)
                counts = MessageCounts.normalize(
                    message_counts, tolerated_failures=execution.tolerated_failures
                ).model_dump()
                # Stats frozen from a partly written lineage would stay short forever: leave them
                # unset, and the first read after the recorder caught up computes and stores them.
                if stats is None and lineage_written:
                    stats = await self._stats_or_none(execution, counts, status, completed_at)
                if route_counts is None and lineage_written:
                    route_counts = await self._route_counts_or_none(execution)
                changed = await self._executions.finish(
                    execution_id,
                    status,
                    from_statuses=_RUNNING,
                    completed_at=completed_at,
                    error_info=error_info,
                    message_counts=counts,
                    stats=stats.model_dump(mode="json") if stats is not None else None,
                    route_counts=route_counts,
                )
                break
            except ServiceUnavailableError as exc:
                delay = backoff.next_delay()
                logger.warning(
                    "Could not store status %r of execution %s (%s); retrying in %.1f s",
                    status,
                    execution_id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
        if not changed:
            logger.info("Execution %s was no longer running; its status %r was not stored", execution_id, status)
            return
        if route_counts is not None and status != "interrupted":  # recovery resumes an interrupted one
            await seal_route_counts(self._stats, self._executions, execution_id, status=status, frozen=route_counts)
        logger.info("Execution %s ended %s", execution_id, status)
        self._hub.finish(execution_id, status=status, previous_status="running", error_info=error_info)

    async def _route_counts_or_none(self, execution: Any) -> dict[str, Any] | None:
        try:
            return await self._stats.route_counts(execution)
        except ServiceUnavailableError:
            raise
        except Exception:  # like the stats: the status must still be stored (reads fall back to lineage)
            logger.exception("Computing the route counts of execution %s failed", execution.execution_id)
            return None

    async def _stats_or_none(
        self, execution: Any, counts: dict[str, object], status: FinalStatus, completed_at: Any
    ) -> ExecutionStats | None:
        try:
            return await self._stats.compute(execution, message_counts=counts, status=status, completed_at=completed_at)
        except ServiceUnavailableError:
            raise
        except Exception:  # stats are best effort; the status must still be stored
            logger.exception("Computing the final stats of execution %s failed", execution.execution_id)
            return None
