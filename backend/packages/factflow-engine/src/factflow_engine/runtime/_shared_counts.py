"""`SharedCounts`: a shared execution's counts, taken from the queue's shared state (docs/concepts/workers.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from factflow_protocols import QueueDepth, QueueError

from ._accounting import CompletionAccountant
from ._shared import STATE_LOST_CODE, SharedExecutionState

__all__ = ("SharedCounts", "SharedGroup", "SharedReading")


@dataclass(frozen=True, slots=True)
class SharedGroup:
    """The consumer group a route reads its inbound queue with."""

    route_id: str
    queue: str
    """The physical (scoped) inbound queue."""
    group: str
    """The route's subscription (consumer group)."""


@dataclass(frozen=True, slots=True)
class SharedReading:
    """One atomic reading of an execution's groups (in route order) and DLQs."""

    depths: list[QueueDepth]
    dead_lettered: int
    """DLQ entries: one per dead-lettered message and queue."""

    @property
    def handled(self) -> int:
        return sum(depth.settled for depth in self.depths)

    @property
    def in_flight(self) -> int:
        return sum(depth.total for depth in self.depths)


class SharedCounts:
    """Reads an execution's groups and DLQs in one step and makes the accountant's counts equal them.

    What the reading cannot know is carried on top of it: the figures only this process's counters
    had when it switched to shared counts (`start_from`), and what was settled before the queue lost
    its state (`carry_over_loss`).

    Args:
        shared: The queue's shared state.
        groups: Every route's inbound group, in route order.
        dead_letter_queues: The execution's physical DLQ names.
        accountant: The counters that adopt each reading.
    """

    def __init__(
        self,
        shared: SharedExecutionState,
        *,
        groups: Sequence[SharedGroup],
        dead_letter_queues: Sequence[str],
        accountant: CompletionAccountant,
    ) -> None:
        self.shared = shared
        self._groups = tuple(groups)
        self._dead_letter_queues = tuple(dead_letter_queues)
        self._accountant = accountant
        self._depths: dict[str, QueueDepth] = {}
        self._last = (0, 0)
        """`handled` and `dead_lettered` of the latest reading since the last loss."""
        self._carried = (0, 0)
        """`handled` and `dead_lettered` the reading cannot see (progress counts until the end)."""

    def depth(self, route_id: str) -> QueueDepth | None:
        """The route's inbound group as the last adopted reading had it."""
        return self._depths.get(route_id)

    async def read(self, *, marked: str | None) -> SharedReading | None:
        """Read every group and the DLQs atomically; None when the queue cannot be reached.

        Raises:
            QueueError: code `STATE_LOST_CODE`, the `marked` execution's mark is gone.
        """
        try:
            depths, dead_lettered = await self.shared.read(
                [(group.queue, group.group) for group in self._groups], self._dead_letter_queues, marked=marked
            )
        except QueueError as exc:
            if exc.code == STATE_LOST_CODE:
                raise
            return None
        return SharedReading(depths=depths, dead_lettered=dead_lettered)

    def adopt(self, reading: SharedReading) -> None:
        """Make the counters equal the reading plus what is carried."""
        self._depths = {group.route_id: depth for group, depth in zip(self._groups, reading.depths, strict=True)}
        handled = reading.handled
        self._last = (handled, reading.dead_lettered)
        carried_handled, carried_dead = self._carried
        self._accountant.adopt(
            published=carried_handled + handled + reading.in_flight,
            handled=carried_handled + handled,
            dead_lettered=carried_dead + reading.dead_lettered,
        )

    def start_from(self, reading: SharedReading, *, handled: int, dead_lettered: int) -> None:
        """Counts from `reading` on; `handled` and `dead_lettered` are what only the counters knew before it."""
        self._carried = (handled, dead_lettered)
        self._last = (reading.handled, reading.dead_lettered)

    def carry_over_loss(self) -> None:
        """The queue lost its state: what the last reading saw settled is carried, later readings start at zero."""
        handled, dead_lettered = self._last
        self._carried = (self._carried[0] + handled, self._carried[1] + dead_lettered)
        self._last = (0, 0)
