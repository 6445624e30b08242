"""`OutboundPublisher`: a route's final outputs, fan-out children and dead letters, sent with one retry policy."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from factflow_engine.conditions import evaluate_condition
from factflow_engine.config import ConditionConfig
from factflow_foundation import Backoff
from factflow_protocols import EnvelopeControl, QueueError, QueueMessage, utc_now_rfc3339

from ._cancel import Cancellation
from ._delivery import Branch, Delivery
from ._gates import FanoutBudget
from ._scoped_queue import ExecutionScopedQueue

__all__ = ("CHILD_CHUNK", "OutboundPublisher", "PublishRetry")

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHILD_CHUNK = 256
"""Most fan-out children published in one batch (each holds a budget unit until confirmed)."""


class PublishRetry:
    """The one publish-retry policy: while the queue is down, wait a doubling delay and try again.

    Gives up only when the execution stops (`Stopped`).

    Args:
        initial_seconds: First wait.
        max_seconds: Longest wait.
        cancellation: The execution's stop signal.
    """

    __slots__ = ("_cancellation", "_initial", "_max")

    def __init__(self, *, initial_seconds: float, max_seconds: float, cancellation: Cancellation) -> None:
        self._initial = initial_seconds
        self._max = max_seconds
        self._cancellation = cancellation

    async def run(self, send: Callable[[], Awaitable[T]], what: str) -> T:
        """`send()` until it does not raise `QueueError`; `what` names it in the warning."""
        backoff = Backoff(self._initial, self._max)
        while True:
            try:
                return await send()
            except QueueError as exc:
                delay = backoff.next_delay()
                logger.warning("Publish of %s failed (%s); retrying in %.1fs", what, exc, delay)
                await self._cancellation.sleep(delay)


class OutboundPublisher:
    """Sends what a route's branches produce: outputs to outbound queues, children, dead letters.

    Every envelope carries the branch's metadata and, as `control`, the delivery's `hop_count`, `trace_id` and
    `replay_batch_id`; outputs hop one further. A publish holds a fan-out budget unit until the
    provider confirmed it (gate 3): the branch's own, or one taken for the publish.

    Args:
        route_id: The route.
        execution_id: The execution.
        queue: The execution's scoped queue.
        outbound: `(queue, condition)` of every outbound entry.
        dead_letter_queue: The route's DLQ (logical name).
        consumed_queues: Normalised inbound queue → route id (an output's `route_id`).
        budget: The route's fan-out budget.
        cancellation: The execution's stop signal.
        retry: The publish-retry policy.
    """

    def __init__(
        self,
        *,
        route_id: str,
        execution_id: str,
        queue: ExecutionScopedQueue,
        outbound: Sequence[tuple[str, ConditionConfig | None]],
        dead_letter_queue: str,
        consumed_queues: dict[str, str],
        budget: FanoutBudget,
        cancellation: Cancellation,
        retry: PublishRetry,
    ) -> None:
        self.route_id = route_id
        self.execution_id = execution_id
        self._queue = queue
        self.outbound = list(outbound)
        self.dead_letter_queue = dead_letter_queue
        self._consumed = consumed_queues
        self._budget = budget
        self._cancellation = cancellation
        self._retry = retry

    @staticmethod
    def envelope_control(
        delivery: Delivery, hop_count: int, dead_letter: dict[str, Any] | None = None
    ) -> EnvelopeControl:
        """The control fields every envelope of a delivery carries on (one instance, shared by its envelopes)."""
        return EnvelopeControl(
            hop_count=hop_count,
            trace_id=delivery.trace_id,
            replay_batch_id=delivery.replay_batch_id,
            dead_letter=dead_letter,
        )

    # ------------------------------------------------------------------ outputs

    async def publish_outputs(self, delivery: Delivery, branch: Branch, payload: dict[str, Any]) -> None:
        """Send one final output to every outbound queue whose condition holds."""
        if not self.outbound:
            return
        metadata = branch.metadata
        control = self.envelope_control(delivery, delivery.hop_count + 1)
        for queue, condition in self.outbound:
            if condition is not None and not evaluate_condition(condition, payload):
                continue
            self._cancellation.check()
            envelope = QueueMessage(
                id=branch.message_id,
                parent_id=branch.parent_id,
                execution_id=self.execution_id,
                route_id=self._consumed.get(queue),
                payload=payload,
                metadata=metadata,
                control=control,
            )
            await self._publish_one(branch, queue, envelope)

    async def publish_children(
        self,
        delivery: Delivery,
        parent: Branch,
        children: Sequence[tuple[str, dict[str, Any]]],
        metadata: dict[str, Any],
    ) -> None:
        """Publish fan-out children that are final outputs, as their own branches would.

        Each child goes to every outbound queue whose condition holds, with the metadata a child
        branch would carry. Children are sent in chunks of at most `CHILD_CHUNK`, each holding
        one fan-out budget unit per child until its publishes are confirmed (gate 3, as a child
        branch holds one); a chunk only ever takes the units free at that moment (at least one,
        waiting for it), so two fan-outs can never deadlock holding half the budget each.
        """
        if not self.outbound:
            return
        consumed = self._consumed
        execution_id = self.execution_id
        control = self.envelope_control(delivery, delivery.hop_count + 1)
        start = 0
        while start < len(children):
            self._cancellation.check()
            taken = await self._take_units(parent, min(len(children) - start, CHILD_CHUNK))
            chunk = children[start : start + taken]
            try:
                created_at = utc_now_rfc3339()
                for queue, condition in self.outbound:
                    envelopes = [
                        QueueMessage(
                            id=child_id,
                            parent_id=parent.message_id,
                            execution_id=execution_id,
                            route_id=consumed.get(queue),
                            payload=child_payload,
                            metadata=metadata,
                            control=control,
                            created_at=created_at,
                        )
                        for child_id, child_payload in chunk
                        if condition is None or evaluate_condition(condition, child_payload)
                    ]
                    if envelopes:
                        self._cancellation.check()
                        await self._retry.run(
                            partial(self._queue.publish_batch, queue, envelopes),
                            f"{len(envelopes)} children to {queue!r}",
                        )
            finally:
                for _ in range(taken):
                    self._budget.release()
            start += taken

    # ------------------------------------------------------------------ dead letters

    async def publish_dead_letter(
        self, delivery: Delivery, branch: Branch, payload: dict[str, Any], record: dict[str, Any]
    ) -> None:
        """Send the branch's input with `control.dead_letter = record` to the route's DLQ."""
        envelope = QueueMessage(
            id=branch.message_id,
            parent_id=branch.parent_id,
            execution_id=self.execution_id,
            route_id=self.route_id,
            payload=payload,
            metadata=branch.metadata,
            control=self.envelope_control(delivery, delivery.hop_count, dead_letter=record),
        )
        await self._publish_one(branch, self.dead_letter_queue, envelope)

    # ------------------------------------------------------------------ sending

    async def _publish_one(self, branch: Branch, queue: str, envelope: QueueMessage) -> None:
        """Publish through the scoped queue, holding a budget unit, retrying while the queue is down."""
        took_unit = False
        if not branch.holds_unit:
            await self._cancellation.take_unit(self._budget)
            took_unit = True
        try:
            await self._retry.run(partial(self._queue.publish, queue, envelope), f"{envelope.id!r} to {queue!r}")
        finally:
            if took_unit:
                self._budget.release()

    async def _take_units(self, parent: Branch, wanted: int) -> int:
        """Take between one and `wanted` fan-out budget units; waits only for the first."""
        budget = self._budget
        if parent.holds_unit:
            # Nested fan-out overdraws, as a child branch does: waiting while holding a unit could deadlock.
            for _ in range(wanted):
                budget.acquire_nowait()
            return wanted
        await self._cancellation.take_unit(budget)
        taken = 1
        while taken < wanted and budget.try_acquire():
            taken += 1
        return taken
