"""In-flight accounting for completion detection (docs/concepts/executions.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from factflow_protocols import PublishStatus

__all__ = ("CompletionAccountant", "MessageCounts")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MessageCounts:
    """An execution's message counters (docs/reference/http-api.md `message_counts`)."""

    published: int
    """First-time publishes to queues some route consumes, the init message included."""
    handled: int
    """Queue entries settled by ACK or DEAD_LETTER, plus undecodable entries; each entry once."""
    in_flight: int
    """`published − handled`."""
    dead_lettered: int
    """Distinct dead-lettered message ids plus messages that could not be recovered."""
    tolerated_failures: int
    """`error_handling.tolerated_failures`."""
    deduplicated: int = 0
    """Deliveries whose work was absorbed as a repeat (their entry was settled before, or vanished
    with lost queue state and was re-injected): not counted in `handled`."""

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

    Both counters count each `(queue, message id)` once, whatever the faults in between:

    - a publish is counted *before* it reaches the provider, so a fast consumer can never make
      `in_flight` drop below the truth, and taken back if it fails, turns out to be a duplicate,
      or repeats a message this execution counted already (re-injection after lost queue state);
    - a settled delivery (`settle_end`) counts as handled the first time its message settles in
      that queue; a repeated delivery (a redelivery, a re-injected copy, a settlement whose entry
      vanished with lost state) counts as `deduplicated` instead.

    The keys are kept as hashes (8 bytes of information each). Publishes and settlements under way
    are tracked, so a re-sync can read the queues while no count is in transit (`quiet`). Every
    change wakes `wait_changed()` waiters and calls `on_change`.

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
        self.deduplicated = 0
        self.publishing = 0
        """Counted publishes not yet confirmed by the provider."""
        self.settling = 0
        """Deliveries whose handler ended, not yet settled by the provider."""
        self.dead_lettering = 0
        """Dead-letter publishes of a branch under way (the DLQ entry may exist before its id is counted)."""
        self._published_keys: set[int] = set()
        self._handled_keys: set[int] = set()
        self._dead_lettered_ids: set[str] = set()
        self.extra_failures = 0
        self.found_dead_letters = 0
        """DLQ entries an earlier process left (recovery); a shared reading counts them itself."""
        self._shared_dead_lettered: int | None = None
        """Dead letters counted from the queue's shared state (`adopt`); replaces the local id set."""
        # Created by the first waiter: counters change several times per message, waiters are rare.
        self._changed: asyncio.Event | None = None

    @property
    def in_flight(self) -> int:
        return self.published - self.handled

    @property
    def failed_messages(self) -> int:
        """Dead-lettered ids plus unrecoverable (or otherwise counted) failures."""
        if self._shared_dead_lettered is not None:
            return self._shared_dead_lettered + self.extra_failures
        return len(self._dead_lettered_ids) + self.found_dead_letters + self.extra_failures

    def is_consumed(self, queue: str) -> bool:
        return queue in self._consumed

    def counts(self) -> MessageCounts:
        return MessageCounts(
            published=self.published,
            handled=self.handled,
            in_flight=self.in_flight,
            dead_lettered=self.failed_messages,
            tolerated_failures=self.tolerated_failures,
            deduplicated=self.deduplicated,
        )

    @property
    def quiet(self) -> bool:
        """No publish, settlement or dead-lettering is under way: the counters match what the queues hold."""
        return self.publishing == 0 and self.settling == 0 and self.dead_lettering == 0

    def transitions(self) -> tuple[int, int, int, int, int, int]:
        """A fingerprint of the counters; equal before and after a read means nothing moved in between."""
        return (
            self.published,
            self.handled,
            self.publishing,
            self.settling,
            self.dead_lettering,
            self.failed_messages,
        )

    # ------------------------------------------------------------------ updates

    def begin_publish(self, queue: str, count: int = 1) -> int:
        """Count `count` publishes to `queue` ahead of time; returns how many were counted.

        Every call is closed by `end_publish(counted, ...)` once the provider answered or failed.
        """
        if queue not in self._consumed or count <= 0:
            return 0
        self.published += count
        self.publishing += count
        self._notify()
        return count

    def end_publish(self, queue: str, counted: int, outcomes: Sequence[tuple[str, PublishStatus | None]]) -> None:
        """Close a `begin_publish` of `counted` with each message's `(id, status)` (None: failed).

        A message counts once per queue: a duplicate, a failure, or a message this execution
        published to the queue before is taken back.
        """
        if counted <= 0:
            return
        kept = 0
        for message_id, status in outcomes:
            if status is None:
                continue
            key = hash((queue, message_id))
            if key in self._published_keys:
                continue
            self._published_keys.add(key)
            if status is PublishStatus.PUBLISHED:
                kept += 1
        self.publishing -= counted
        self.published -= counted - kept
        self._notify()

    def settle_begin(self) -> None:
        """A handler ended with ACK or DEAD_LETTER; `settle_end` follows once the provider settled it."""
        self.settling += 1

    def settle_end(self, queue: str, message_id: str) -> bool:
        """The provider settled a delivery of `message_id` from `queue`: handled, unless it settled before.

        Returns:
            False when the delivery repeated a message already handled (counted as deduplicated).
        """
        self.settling -= 1
        key = hash((queue, message_id))
        first = key not in self._handled_keys
        if first:
            self._handled_keys.add(key)
            self.handled += 1
        else:
            self.deduplicated += 1
        self._notify()
        return first

    def seed(self, *, published: int, handled: int) -> None:
        """Start from the counts the queues kept (a resumed execution).

        Entries still pending then count when they settle, so nothing settled before is counted twice.
        """
        self.published, self.handled = published, handled
        self._notify()

    def adopt(self, *, published: int, handled: int, dead_lettered: int) -> None:
        """Take the counts every process keeps in the queue (an execution whose routes run in workers).

        There the local counters see only this process's share; the queue's atomic reading is the truth.
        """
        changed = (published, handled, dead_lettered) != (self.published, self.handled, self._shared_dead_lettered)
        self.published, self.handled, self._shared_dead_lettered = published, handled, dead_lettered
        if changed:
            self._notify()

    def dead_letter_begin(self) -> None:
        """A branch is being published to its DLQ; `dead_letter_end` follows (after `dead_lettered`)."""
        self.dead_lettering += 1

    def dead_letter_end(self) -> None:
        self.dead_lettering -= 1
        self._notify()

    def delivery_handled(self, count: int = 1) -> None:
        """Entries settled outside a handler (undecodable entries the provider dead-lettered)."""
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
        """Count failures the queues do not hold: unrecoverable messages, dead letters whose DLQ entries were lost."""
        if count > 0:
            self.extra_failures += count
            self._notify()

    def record_found_dead_letters(self, count: int) -> None:
        """Count the DLQ entries an earlier process left (recovery with the queues kept).

        Counted with this process's own dead-lettered ids; once the counts come from the queue's
        shared reading (which counts every DLQ entry) they are not added again.
        """
        if count > 0:
            self.found_dead_letters += count
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
