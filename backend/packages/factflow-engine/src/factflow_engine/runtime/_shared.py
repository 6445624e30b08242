"""Executions whose routes run in several processes (docs/concepts/workers.md).

When an execution's routes run in worker processes, no single process sees every publish and
every settlement, so the in-process `CompletionAccountant` cannot tell when the execution is done.
The queue can: each consumed queue's consumer group already records, atomically with the publish
or ack that changed it, how many entries were added, are pending and were settled. A
`SharedExecutionState` reads those figures for all of an execution's queues in one atomic step; the
leader (the server that runs the execution's control part) counts and detects completion from that
reading, whatever process published or acked. The same seam carries the little coordination the
processes need: the mark that lets workers join, and the lineage flush before the final stats.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from factflow_engine.config import PipelineGlobalConfig
from factflow_protocols import QueueDepth

__all__ = (
    "STATE_LOST_CODE",
    "ExecutionRole",
    "LineageCounts",
    "LineageCountsCallable",
    "LineageRepairCallable",
    "Placement",
    "SharedExecutionState",
)

STATE_LOST_CODE = "queue_state_lost"
"""`QueueError.code` of a `SharedExecutionState.read` that found the execution's mark gone."""

LineageRepairCallable = Callable[[str, PipelineGlobalConfig], Awaitable[int]]
"""Writes back the lineage rows of an execution that a dead worker lost (rebuilt from stored
outputs), and closes the rows it left open; returns how many rows it wrote."""


@dataclass(frozen=True, slots=True)
class LineageCounts:
    """An execution's message counts as its lineage tells them (after its queues lost their state)."""

    delivered: int
    """Distinct (route, message) deliveries: a message that reached a route through its queue counts
    once there, however often it ran; the children a route's own fan-out continues are not deliveries."""
    dead_lettered: int
    """Distinct messages with a dead-lettered row."""


LineageCountsCallable = Callable[[str, PipelineGlobalConfig], Awaitable[LineageCounts]]
"""Counts an execution's deliveries and dead letters from its lineage rows (every process's rows
written first)."""

ExecutionRole = Literal["full", "worker"]
"""`full`: the execution's control part (init message, seed, completion) plus the routes it runs
here; `worker`: only route processors, until told to stop."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Which routes of an execution this process runs, and where its counts come from."""

    routes: frozenset[str] | None = None
    """Route ids run here; None runs every route."""
    shared: bool = False
    """Counts and completion come from the queue's shared state (routes run in other processes too)."""


@runtime_checkable
class SharedExecutionState(Protocol):
    """The queue-side state shared by every process of an execution (the Redis provider implements it).

    Queue names are physical (scoped) names.
    """

    async def read(
        self,
        groups: Sequence[tuple[str, str]],
        dead_letter_queues: Sequence[str],
        *,
        marked: str | None = None,
    ) -> tuple[list[QueueDepth], int]:
        """One atomic reading: the depth of every (queue, group), in order, and the DLQs' entry count.

        The DLQ count is one entry per dead-lettered message and queue (dead-letter publishes are
        deduplicated). With `marked`, the reading also checks that execution's shared mark: gone,
        the queue lost its state since `mark_shared` (a Redis restart without persistence).

        Raises:
            QueueError: the queue cannot be read; code `STATE_LOST_CODE` when the mark is gone.
        """
        ...

    async def mark_shared(self, execution_id: str) -> None:
        """Let workers join the execution (set before its first message is published)."""
        ...

    async def is_shared(self, execution_id: str) -> bool:
        """Whether workers may join the execution."""
        ...

    async def joined(self, execution_id: str, worker_id: str) -> None:
        """A worker runs routes of the execution (it is asked to flush lineage before the end)."""
        ...

    async def request_flush(self, execution_id: str) -> None:
        """The leader is about to compute final stats: workers flush the execution's lineage rows."""
        ...

    async def flush_requested(self, execution_id: str) -> bool:
        """Whether the leader asked for the execution's lineage flush."""
        ...

    async def flushed(self, execution_id: str, worker_id: str) -> None:
        """A worker wrote every lineage row of the execution it had."""
        ...

    async def request_settle(self, execution_id: str, token: str) -> None:
        """Ask every worker to settle before the leader re-seeds after lost state.

        Each lets the deliveries it runs end, writes the execution's lineage rows, then reports
        `settled` under `token`.
        """
        ...

    async def settle_requested(self, execution_id: str) -> str | None:
        """The token of the latest settle request of the execution, if any."""
        ...

    async def settled(self, execution_id: str, worker_id: str, token: str) -> None:
        """A worker's deliveries that ran at the request have ended and their lineage is written."""
        ...

    async def unsettled_workers(self, execution_id: str, token: str) -> set[str]:
        """Live workers that joined the execution and have not settled under `token`."""
        ...

    async def unflushed_workers(self, execution_id: str, *, live_only: bool = True) -> set[str]:
        """Workers that joined the execution and have not flushed since the request (only live ones)."""
        ...

    async def report_stages(self, execution_id: str, reporter: str, *, completed: int, failed: int) -> None:
        """A worker process's stage counts of the execution so far (`reporter` names the process).

        Absolute figures, replacing the process's last report, so a report repeated or lost on the
        way never miscounts; the leader's progress adds them up (`reported_stages`).
        """
        ...

    async def reported_stages(self, execution_id: str) -> tuple[int, int]:
        """`(completed, failed)` stage counts of the execution summed over every process's last report."""
        ...
