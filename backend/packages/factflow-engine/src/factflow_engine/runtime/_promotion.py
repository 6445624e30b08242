"""`Promotion`: an execution that runs in process moves to the queue's shared counts (docs/concepts/workers.md).

When a worker process appears that serves the execution's pools, the leader switches the execution
to shared mode once: it reads its groups and DLQs at a quiet moment, carries what only its own
counters knew, and marks the execution shared so workers join.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ._accounting import CompletionAccountant
from ._completion import ExecutionSignals
from ._shared_counts import SharedCounts, SharedReading

__all__ = ("Promotion", "QuietReading")

logger = logging.getLogger(__name__)

QuietReading = Callable[[Callable[[], Awaitable[SharedReading | None]]], Awaitable[SharedReading | None]]
"""Takes a reading while no publish, settlement or dead-lettering is in transit (`CompletionWatcher.quiet_reading`)."""


class Promotion:
    """Switches one in-process execution to shared counts, at most once.

    Args:
        execution_id: The execution.
        counts: Its shared counts (read unmarked: no worker can have joined yet).
        accountant: Its counters, which keep their figures across the switch.
        signals: Its signals (a request is answered by the completion watcher, between its checks).
        quiet_reading: Reads while the counters stand still.
        ready: Whether the execution may switch now (running, seeded, not ending).
    """

    def __init__(
        self,
        *,
        execution_id: str,
        counts: SharedCounts,
        accountant: CompletionAccountant,
        signals: ExecutionSignals,
        quiet_reading: QuietReading,
        ready: Callable[[], bool],
    ) -> None:
        self.execution_id = execution_id
        self._counts = counts
        self._accountant = accountant
        self._signals = signals
        self._quiet_reading = quiet_reading
        self._ready = ready
        self.done = False
        """The execution is marked shared (workers may join)."""

    def possible(self) -> bool:
        return not self.done and self._ready()

    def request(self) -> bool:
        """Ask the watcher to switch (returns at once); False when there is nothing to do now."""
        if not self.possible():
            return False
        self._signals.request_promotion()
        return True

    async def promote(self) -> bool:
        """Ask the watcher to switch and wait for the outcome."""
        if not self.possible():
            return False
        return await self._signals.request_promotion()

    async def switch(self) -> bool:
        """The watcher's side: switch now, and return whether it did.

        False when there is nothing to promote, no quiet moment came, or the queue could not be
        reached (a later request tries again).
        """
        if not self.possible():
            return False
        counts = self._counts
        # Unmarked yet (workers cannot have joined): the groups and DLQs hold exactly what this
        # process published, settled and dead-lettered, read while none of it was in transit.
        reading = await self._quiet_reading(lambda: counts.read(marked=None))
        if reading is None:
            logger.info("Execution %r: no quiet moment to switch to shared counts; trying later", self.execution_id)
            return False
        accountant = self._accountant
        if reading.in_flight != accountant.in_flight:
            logger.warning(
                "Execution %r: in-flight was %d here and %d in the queues at the switch; the queues' count holds",
                self.execution_id,
                accountant.in_flight,
                reading.in_flight,
            )
        # What only these counters knew (a repeat absorbed here, a failure with no DLQ entry) is
        # carried, so the counts do not jump at the switch; taken before anything is awaited.
        handled = accountant.handled - reading.handled
        dead_lettered = accountant.failed_messages - accountant.extra_failures - reading.dead_lettered
        await counts.shared.mark_shared(self.execution_id)  # workers join from their next reconcile on
        self.done = True
        counts.start_from(reading, handled=handled, dead_lettered=dead_lettered)
        return True
