"""`LostQueueState`: a shared execution whose queue lost its state while it ran (docs/concepts/workers.md).

Redis restarted without persistence drops the execution's streams, groups, DLQs and its shared mark.
The leader finds the mark gone in a reading; then it carries the counts so far, marks the execution
shared again (workers that start later join), waits until every process's running deliveries have
ended with their lineage written (the settle handshake), and re-seeds what no process runs any more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from factflow_engine.config import PipelineGlobalConfig
from factflow_foundation import new_id
from factflow_protocols import QueueError

from ._accounting import CompletionAccountant
from ._completion import ExecutionSignals
from ._shared import LineageCountsCallable
from ._shared_counts import SharedCounts

__all__ = ("LostQueueState", "SettleTimings")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SettleTimings:
    """How long the leader waits for workers to settle before it re-seeds."""

    min_seconds: float = 2.5
    """At least this long: every live worker re-registers (heartbeat, 1 s) and re-announces what it
    runs (its reconcile pass, 1 s) within it."""
    max_seconds: float = 60.0
    """At most this long; then it re-seeds anyway."""
    poll_seconds: float = 0.1


class LostQueueState:
    """Notices lost queue state of one shared execution and serves each loss with one re-seed.

    Args:
        execution_id: The execution.
        counts: Its shared counts (the loss is carried over in them).
        signals: Its signals: a loss is reported there, so the completion watcher runs `serve()`.
        read: Takes a fresh shared reading (finds a loss the routes reported).
        settle_here: Waits until the deliveries running in this process now have ended.
        reseed: Re-publishes what no process runs any more (the engine's reconciler), if any.
        lineage_counts: Counts deliveries and dead letters from lineage, for the final counts.
        timings: The settle handshake's bounds.
    """

    def __init__(
        self,
        *,
        execution_id: str,
        counts: SharedCounts,
        signals: ExecutionSignals,
        read: Callable[[], Awaitable[object]],
        settle_here: Callable[[], Awaitable[None]],
        reseed: Callable[[], Awaitable[None]] | None,
        lineage_counts: LineageCountsCallable | None,
        timings: SettleTimings | None = None,
    ) -> None:
        self.execution_id = execution_id
        self._counts = counts
        self._signals = signals
        self._read = read
        self._settle_here = settle_here
        self._reseed = reseed
        self._lineage_counts = lineage_counts
        self._timings = timings or SettleTimings()
        self._lost_epoch = 0
        """Losses the shared reading found (its mark gone)."""
        self._served_epoch = 0
        """Losses a completed re-seed has served; the execution cannot complete while one is not served."""

    @property
    def lost(self) -> bool:
        """Whether the queue lost this execution's state while it ran."""
        return self._lost_epoch > 0

    @property
    def unserved(self) -> bool:
        """A loss was found and its re-seed has not run yet (the execution is not done meanwhile)."""
        return self._lost_epoch > self._served_epoch

    async def found(self) -> None:
        """A reading found the execution's mark gone: carry the counts, mark it again, ask for a re-seed."""
        self._lost_epoch += 1
        self._counts.carry_over_loss()
        logger.warning("Execution %r: the queue lost its state (Redis restarted?); re-seeding", self.execution_id)
        try:
            await self._counts.shared.mark_shared(self.execution_id)
        except QueueError as exc:
            logger.warning("Execution %r: could not mark it shared again: %s", self.execution_id, exc)
        self._signals.report_lost_state()

    async def serve(self) -> None:
        """The re-seed pass: settle every process, then re-seed; a failure reports the loss again.

        Raises:
            QueueError: the queue cannot be reached (the pass runs again later).
        """
        # The reading finds a loss the routes reported (their own `NOGROUP`), so this pass serves it.
        await self._read()
        epoch = self._lost_epoch
        try:
            await self._settle()
            if self._reseed is not None:
                await self._reseed()
        except Exception:
            self._signals.report_lost_state()  # another pass, once the queue or database answers
            raise
        if self._lost_epoch == epoch:
            # Reports of the loss this pass served need no second pass; a later loss is found by the
            # reading anyway.
            self._signals.lost_state = False
        self._served_epoch = max(self._served_epoch, epoch)
        self._signals.wakeup.set()

    async def _settle(self) -> None:
        """Wait until the deliveries running here and on every worker when asked have ended, their lineage written.

        Lineage then shows every message those deliveries finished, so the re-seed re-publishes only
        what no process runs any more, and no stage runs twice.

        Raises:
            QueueError: the queue cannot be reached (the re-seed is retried).
        """
        shared, timings = self._counts.shared, self._timings
        token = new_id()
        await shared.request_settle(self.execution_id, token)
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting: set[str] = set()
        try:
            async with asyncio.timeout(timings.max_seconds):
                await self._settle_here()
                while True:
                    waiting = await shared.unsettled_workers(self.execution_id, token)
                    if not waiting and loop.time() - started >= timings.min_seconds:
                        return
                    await asyncio.sleep(timings.poll_seconds)
        except TimeoutError:
            logger.warning(
                "Execution %r: worker(s) %s did not settle within %.0f s after lost queue state; re-seeding anyway",
                self.execution_id,
                ", ".join(sorted(waiting)) or "-",
                timings.max_seconds,
            )

    async def count_from_lineage(self, config: PipelineGlobalConfig, accountant: CompletionAccountant) -> None:
        """Final counts from the execution's lineage rows (every process's rows written first).

        Redis kept no count of what was settled before the loss, and the re-seed re-published
        some messages that ran before; lineage counts each (route, message) delivery once.
        """
        count = self._lineage_counts
        if count is None:
            logger.warning("Execution %r: no lineage to count from after lost queue state", self.execution_id)
            return
        try:
            counts = await count(self.execution_id, config)
        except Exception:
            logger.exception("Execution %r: counting its messages from lineage failed", self.execution_id)
            return
        accountant.adopt(published=counts.delivered, handled=counts.delivered, dead_lettered=counts.dead_lettered)
