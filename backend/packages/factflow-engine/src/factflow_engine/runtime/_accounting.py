"""In-flight accounting for completion detection (docs/concepts/executions.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

__all__ = ("CompletionAccountant", "MessageCounts")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MessageCounts:
    """An execution's message counters (docs/reference/http-api.md `message_counts`)."""

    published: int
    """First-time publishes to queues some route consumes, the init message included."""
    handled: int
    """Deliveries ended by ACK or DEAD_LETTER, plus undecodable entries."""
    in_flight: int
    """`published − handled`."""
    dead_lettered: int
    """Distinct dead-lettered message ids plus messages that could not be recovered."""
    tolerated_failures: int
    """`error_handling.tolerated_failures`."""

    def as_dict(self) -> dict[str, int]:
        return {
            "published": self.published,
            "handled": self.handled,
            "in_flight": self.in_flight,
            "dead_lettered": self.dead_lettered,
            "tolerated_failures": self.tolerated_failures,
        }


class CompletionAccountant:
    """Counts publishes and terminal deliveries of one execution.

    A publish is counted *before* it reaches the provider and taken back if it turns out to be
    a duplicate or fails, so a fast consumer can never make `in_flight` drop below the truth.
    Every change wakes `wait_changed()` waiters and calls `on_change`.

    Args:
        consumed_queues: Normalised names of the queues some route consumes.
        tolerated_failures: `error_handling.tolerated_failures`.
        on_change: Called after every counter change; must not raise.
    """

    def __init__(
        self,
        consumed_queues: Collection[str],
        *,
        tolerated_failures: int = 0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._consumed = frozenset(consumed_queues)
        self.tolerated_failures = tolerated_failures
        self._on_change = on_change
        self.published = 0
        self.handled = 0
        self._dead_lettered_ids: set[str] = set()
        self.extra_failures = 0
        # Created by the first waiter: counters change several times per message, waiters are rare.
        self._changed: asyncio.Event | None = None

    @property
    def in_flight(self) -> int:
        return self.published - self.handled

    @property
    def failed_messages(self) -> int:
        """Dead-lettered ids plus unrecoverable (or otherwise counted) failures."""
        return len(self._dead_lettered_ids) + self.extra_failures

    def is_consumed(self, queue: str) -> bool:
        return queue in self._consumed

    def counts(self) -> MessageCounts:
        return MessageCounts(
            published=self.published,
            handled=self.handled,
            in_flight=self.in_flight,
            dead_lettered=self.failed_messages,
            tolerated_failures=self.tolerated_failures,
        )

    # ------------------------------------------------------------------ updates

    def begin_publish(self, queue: str, count: int = 1) -> int:
        """Count `count` publishes to `queue` ahead of time; returns how many were counted."""
        if queue not in self._consumed or count <= 0:
            return 0
        self.published += count
        self._notify()
        return count

    def undo_publish(self, count: int) -> None:
        """Take back counted publishes that were duplicates or failed."""
        if count <= 0:
            return
        self.published -= count
        self._notify()

    def delivery_handled(self, count: int = 1) -> None:
        """A delivery ended by ACK or DEAD_LETTER (or an undecodable entry was dead-lettered)."""
        self.handled += count
        self._notify()

    def dead_lettered(self, message_id: str) -> bool:
        """Count a dead-lettered id toward `tolerated_failures`; false if it was counted already."""
        if message_id in self._dead_lettered_ids:
            return False
        self._dead_lettered_ids.add(message_id)
        self._notify()
        return True

    def record_failures(self, count: int) -> None:
        """Count failures other than this process's dead-lettered ids.

        Unrecoverable messages, and DLQ entries found at recovery.
        """
        if count > 0:
            self.extra_failures += count
            self._notify()

    def resync(self, in_flight: int) -> None:
        """Make `in_flight` equal the provider's view (reconciliation, recovery)."""
        in_flight = max(0, in_flight)
        if in_flight != self.in_flight:
            logger.info("Re-syncing in-flight count from %d to %d", self.in_flight, in_flight)
            self.published = self.handled + in_flight
            self._notify()

    # ------------------------------------------------------------------ waiting

    async def wait_changed(self, seconds: float | None = None) -> None:
        """Wait until a counter changes (at most `seconds`)."""
        event = self._changed
        if event is None:
            event = self._changed = asyncio.Event()
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception:  # observers never break processing
                logger.exception("Message counter observer failed")
