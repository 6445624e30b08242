"""`ChainWalk`: one delivery through a route's adapter chain: branches and fan-out (docs/concepts/routes-and-stages.md).

The walk decides where each branch goes; the `Invoker` makes the calls, `_outputs` checks and
stores what they return, the `OutboundPublisher` sends outputs, children and dead letters, and
the `DeliveryObservers` hear every fact. The resume walk of a redelivery lives in `_resume.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from factflow_engine.conditions import evaluate_condition
from factflow_protocols import AdapterResult, MessageStatus, QueueMessage, utc_now_rfc3339

from ..storage import StorageBackoff
from ._backpressure import BackpressureController
from ._cancel import Cancellation
from ._context import AdapterSlot, LineageLookup
from ._delivery import (
    BadOutput,
    Branch,
    DeadLetterReason,
    Delivery,
    Invocation,
    Outcome,
    Stopped,
    carried_metadata,
)
from ._gates import FanoutBudget
from ._invoke import CallFailed, Invoker
from ._observers import DeliveryObservers
from ._outputs import check_result, store_outputs
from ._publisher import OutboundPublisher
from ._resume import ResumeWalk
from ._stages import StageFacts, StageRow

__all__ = ("ChainWalk", "refusal_record")

logger = logging.getLogger(__name__)


def refusal_record(route_id: str, reason: DeadLetterReason, detail: str) -> dict[str, Any]:
    """`metadata.dead_letter` for a delivery refused before any adapter ran."""
    return {
        "reason": reason,
        "error_info": {
            "error_type": reason,
            "message": detail,
            "traceback": None,
            "attempts": 0,
            "retryable": False,
        },
        "route_id": route_id,
        "adapter_index": None,
        "stage": None,
        "attempts": 0,
        "failed_at": utc_now_rfc3339(),
    }


class ChainWalk:
    """Walks the deliveries of one route of one execution through its adapter chain.

    A delivery starts one root branch; an adapter that emits children starts a branch per child
    at the next adapter (holding a fan-out budget unit each), or publishes them in batches when
    no adapter is left. The delivery is acknowledged once every branch is terminal and every
    publish confirmed; it stays unacknowledged (`RETRY`) when the execution stops meanwhile.

    Args:
        route_id: The route.
        slots: The adapter entries, in order.
        invoker: Makes each adapter call.
        publisher: Sends outputs, children and dead letters.
        stages: The lineage facts of each call.
        observers: The route's delivery observers.
        cancellation: The execution's stop signal.
        backpressure: The route's AIMD controller (told each branch's active time).
        budget: The route's fan-out budget (gate 3).
        storage_backoff: The route's storage backoff (the resume walk's reads).
        replay_batch_id: The execution's replay batch, for deliveries that carry none.
        max_message_bytes: Largest encoded output.
        lineage_lookup: Lineage rows of a message, for the resume walk.
        lookup_timeout: Longest wait for that lookup.
    """

    def __init__(
        self,
        *,
        route_id: str,
        slots: Sequence[AdapterSlot],
        invoker: Invoker,
        publisher: OutboundPublisher,
        stages: StageFacts,
        observers: DeliveryObservers,
        cancellation: Cancellation,
        backpressure: BackpressureController,
        budget: FanoutBudget,
        storage_backoff: StorageBackoff,
        replay_batch_id: str | None,
        max_message_bytes: int,
        lineage_lookup: LineageLookup | None,
        lookup_timeout: float,
    ) -> None:
        self.route_id = route_id
        self.slots = list(slots)
        self._invoker = invoker
        self._publisher = publisher
        self._stages = stages
        self._observers = observers
        self._cancellation = cancellation
        self._backpressure = backpressure
        self._budget = budget
        self._replay_batch_id = replay_batch_id
        self._max_bytes = max_message_bytes
        self._resume = ResumeWalk(
            self,
            slots=self.slots,
            storage_backoff=storage_backoff,
            lineage_lookup=lineage_lookup,
            lookup_timeout=lookup_timeout,
        )

    # ------------------------------------------------------------------ delivery

    async def run_delivery(self, message: QueueMessage) -> MessageStatus:
        """Run one delivery; `ACK` once every branch is terminal and every publish confirmed.

        Returns `RETRY` (leave unacked) when the execution started cancelling or stopping.
        """
        control = message.control
        delivery = Delivery(
            message=message,
            delivery_count=control.delivery_count,
            hop_count=control.hop_count,
            trace_id=control.trace_id,
            replay_batch_id=control.replay_batch_id or self._replay_batch_id,
            recovered=control.recovered,
            original_object_key=control.replay_source_key,
        )
        root = Branch(
            message_id=message.id,
            parent_id=message.parent_id,
            payload=message.payload,
            start_index=control.start_at_adapter,
            # The envelope's metadata holds no reserved key (they are `control`): a plain copy.
            metadata=dict(message.metadata),
            resume=delivery.delivery_count > 1 or delivery.recovered,
        )
        branches = delivery.branches
        try:
            await self._run_branch(delivery, root)
        except BaseException:
            await branches.cancel_all()
            raise
        await branches.join()
        if delivery.stopped:
            return MessageStatus.RETRY
        self._observers.delivery_done(failed=delivery.dead_lettered > 0)
        return MessageStatus.ACK

    # ------------------------------------------------------------------ branches

    async def _run_branch(self, delivery: Delivery, branch: Branch) -> None:
        try:
            await self._walk(delivery, branch)
        except Stopped:
            delivery.stopped = True
        finally:
            if branch.holds_unit:
                self._budget.release()
            if branch.invoked:
                self._backpressure.record_branch(branch.active_ms)

    async def _walk(self, delivery: Delivery, branch: Branch) -> None:
        index, payload = branch.start_index, branch.payload
        if branch.resume:
            resumed = await self._resume.walk(delivery, branch)
            if resumed is None:
                return
            index, payload = resumed
        payload_hash: str | None = None
        slots = self.slots
        count = len(slots)
        while index < count:
            self.check_stopped()
            slot = slots[index]
            invocation = Invocation(self.route_id, delivery, branch, slot, payload, payload_hash)
            if slot.condition is not None and not evaluate_condition(slot.condition, payload):
                self._stages.skip(invocation)
                index += 1
                continue
            outcome = await self._run_stage(invocation)
            if outcome is None:
                return
            last = index + 1 == count
            if outcome.children:
                if last:
                    # The children have no adapter left: their branches would only publish, so
                    # publish them here in batches instead of starting a task per child.
                    await self._publisher.publish_children(delivery, branch, outcome.children, outcome.metadata)
                else:
                    for child_id, child_payload in outcome.children:
                        child = Branch(
                            message_id=child_id,
                            parent_id=branch.message_id,
                            payload=child_payload,
                            start_index=index + 1,
                            metadata=outcome.metadata,
                        )
                        await self.spawn(delivery, branch, child)
            if outcome.message is None:
                return
            branch.metadata = outcome.metadata
            payload, payload_hash = outcome.message, outcome.message_hash
            index += 1
        await self._publisher.publish_outputs(delivery, branch, payload)

    async def spawn(self, delivery: Delivery, parent: Branch, child: Branch) -> None:
        """Start a child branch, holding a fan-out budget unit until it ends."""
        if parent.holds_unit:
            # Nested fan-out may overdraw: waiting here while holding a unit could deadlock.
            self._budget.acquire_nowait()
        else:
            await self._cancellation.take_unit(self._budget)
        child.holds_unit = True
        delivery.branches.start(self._run_branch(delivery, child), name=f"branch:{self.route_id}:{child.message_id}")

    def check_stopped(self) -> None:
        self._cancellation.check()

    # ------------------------------------------------------------------ one stage

    async def _run_stage(self, invocation: Invocation) -> Outcome | None:
        """Call the stage's adapter and take its result; None when the branch ends here."""
        called = await self._invoker.invoke(invocation)
        row, active = called.row, called.active_seconds
        try:
            if isinstance(called, CallFailed):
                await self._dead_letter(invocation, row, called.error, called.reason, active)
                return None
            return await self._take_result(invocation, row, called.result, active)
        except (Stopped, asyncio.CancelledError):
            self._stages.cancel(row, duration_ms=active * 1000.0)
            raise

    async def _take_result(self, invocation: Invocation, row: StageRow, result: Any, active: float) -> Outcome | None:
        """Check and store the adapter's outputs, then complete its row."""
        if result is None or (isinstance(result, AdapterResult) and result.is_empty):
            empty = result if isinstance(result, AdapterResult) else None
            self._stages.complete(row, empty, storage_key=None, duration_ms=active * 1000.0)
            return None
        branch, slot = invocation.branch, invocation.slot
        try:
            outputs = check_result(
                result,
                message_id=branch.message_id,
                route_id=self.route_id,
                slot=slot,
                max_bytes=self._max_bytes,
            )
        except BadOutput as exc:
            await self._dead_letter(invocation, row, exc, exc.reason, active)
            return None
        assert isinstance(result, AdapterResult)
        storage_started = time.perf_counter()
        try:
            storage_key = await store_outputs(invocation.delivery, branch, slot, row, result, outputs)
        except ValueError as exc:  # sidecar fields (storage_metadata) that JSON cannot express
            await self._dead_letter(invocation, row, exc, "output_not_serializable", active)
            return None
        active += time.perf_counter() - storage_started
        message_hash = self._stages.complete(row, result, storage_key=storage_key, duration_ms=active * 1000.0)
        metadata = branch.metadata
        if result.metadata:
            metadata = {**metadata, **carried_metadata(result.metadata)}
        return Outcome(outputs.message, outputs.children, metadata, message_hash)

    async def _dead_letter(
        self,
        invocation: Invocation,
        row: StageRow,
        error: BaseException,
        reason: DeadLetterReason,
        active: float,
    ) -> None:
        branch, slot = invocation.branch, invocation.slot
        retryable = reason == "retries_exhausted"
        error_info = self._stages.fail(row, error=error, retryable=retryable, duration_ms=active * 1000.0)
        logger.warning(
            "Dead-lettering %r in route %r at adapter %r (%s): %s",
            branch.message_id,
            self.route_id,
            slot.adapter_name,
            reason,
            error,
        )
        record = {
            "reason": reason,
            "error_info": error_info,
            "route_id": self.route_id,
            "adapter_index": slot.index,
            "stage": slot.stage,
            "attempts": row.attempts,
            "failed_at": utc_now_rfc3339(),
        }
        # Under way until the id is counted: a quiet reading never sees the DLQ entry without it.
        self._observers.dead_lettering()
        try:
            await self._publisher.publish_dead_letter(invocation.delivery, branch, invocation.payload, record)
            invocation.delivery.dead_lettered += 1
            self._observers.dead_lettered(branch.message_id, adapter_name=slot.adapter_name, error_info=error_info)
        finally:
            self._observers.dead_lettering_ended()
