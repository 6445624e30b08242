"""One delivery through a route's adapter chain (docs/concepts/routes-and-stages.md).

Branches, fan-out, gates, retries, breaker deferral, dead-letters and outbound publishing; the
resume walk lives in `_resume.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from factflow_engine.conditions import evaluate_condition
from factflow_engine.config import ProcessorConfig, RouteConfig
from factflow_foundation import StagePaths
from factflow_lineage import LineageRecord, StageInvocation, build_error_info
from factflow_protocols import (
    AdapterResult,
    MessageDeadLettered,
    MessageStatus,
    NonRetryableError,
    PipelineContext,
    PublishStatus,
    QueueError,
    QueueMessage,
    utc_now_rfc3339,
)

from ..storage import StorageBackoff
from ._backpressure import AdaptiveLimiter, BackpressureController
from ._circuit_breaker import CircuitBreaker
from ._context import AdapterSlot, ExecutionRuntime
from ._delivery import (
    BadOutput,
    Branch,
    DeadLetterReason,
    Delivery,
    Outcome,
    RouteExecutionCounts,
    Stopped,
    carried_metadata,
    fresh_copy,
)
from ._errors import CircuitOpenError
from ._gates import FanoutBudget
from ._metrics import RouteCounters
from ._outputs import check_result, store_outputs
from ._resume import ResumeWalk
from ._retry import retry_delay

__all__ = ("ChainRunner",)

logger = logging.getLogger(__name__)
adapter_logger = logging.getLogger("factflow.adapter")

_CHILD_CHUNK = 256
"""Most fan-out children published in one batch (each holds a budget unit until confirmed)."""


class ChainRunner:
    """Runs deliveries of one route of one execution through its adapter chain.

    Args:
        route_id: The route.
        route: The route's config.
        processor: The route's merged policies.
        slots: The adapter entries, in order.
        runtime: What the execution's routes share.
        backpressure: The route's AIMD controller (its limiter is gate 2).
        budget: The route's fan-out budget (gate 3).
        storage_backoff: The route's storage backoff.
        counters: Process-wide counters of the route name.
        execution_counts: This execution's counters of the route.
    """

    def __init__(
        self,
        *,
        route_id: str,
        route: RouteConfig,
        processor: ProcessorConfig,
        slots: Sequence[AdapterSlot],
        runtime: ExecutionRuntime,
        backpressure: BackpressureController,
        budget: FanoutBudget,
        storage_backoff: StorageBackoff,
        counters: RouteCounters,
        execution_counts: RouteExecutionCounts,
    ) -> None:
        self.route_id = route_id
        self.route = route
        self.processor = processor
        self.slots = list(slots)
        self.runtime = runtime
        self.backpressure = backpressure
        self.limiter: AdaptiveLimiter = backpressure.limiter
        self.budget = budget
        self.storage_backoff = storage_backoff
        self.counters = counters
        self.execution_counts = execution_counts
        self.policy = processor.error_handling
        self.dead_letter_queue = processor.dead_letter_queue
        self.outbound = [(entry.queue_name, entry.condition) for entry in route.outbound]
        self._resume = ResumeWalk(
            self,
            slots=self.slots,
            storage_backoff=storage_backoff,
            lineage_lookup=runtime.lineage_lookup,
            lookup_timeout=runtime.options.lineage_lookup_timeout_seconds,
        )

    # ------------------------------------------------------------------ delivery

    async def run_delivery(self, message: QueueMessage) -> MessageStatus:
        """Run one delivery; `ACK` once every branch is terminal and every publish confirmed.

        Returns `RETRY` (leave unacked) when the execution started cancelling or stopping.
        """
        metadata = message.metadata
        delivery = Delivery(
            message=message,
            delivery_count=message.delivery_count,
            hop_count=message.hop_count,
            trace_id=metadata.get("trace_id"),
            replay_batch_id=metadata.get("replay_batch_id") or self.runtime.replay_batch_id,
            recovered=bool(metadata.get("recovered", False)),
            original_object_key=metadata.get("replay_source_key"),
        )
        root = Branch(
            message_id=message.id,
            parent_id=message.parent_id,
            payload=message.payload,
            start_index=message.start_at_adapter,
            metadata=carried_metadata(metadata),
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
        if delivery.dead_lettered:
            self.counters.failed += 1
            self.execution_counts.failed += 1
        else:
            self.counters.completed += 1
            self.execution_counts.completed += 1
        return MessageStatus.ACK

    def dead_letter_record(self, message: QueueMessage, reason: DeadLetterReason, detail: str) -> dict[str, Any]:
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
            "route_id": self.route_id,
            "adapter_index": None,
            "stage": None,
            "attempts": 0,
            "failed_at": utc_now_rfc3339(),
        }

    # ------------------------------------------------------------------ branches

    async def _run_branch(self, delivery: Delivery, branch: Branch) -> None:
        try:
            await self._walk(delivery, branch)
        except Stopped:
            delivery.stopped = True
        finally:
            if branch.holds_unit:
                self.budget.release()
            if branch.invoked:
                self.backpressure.record_branch(branch.active_ms)

    async def _walk(self, delivery: Delivery, branch: Branch) -> None:
        index, payload = branch.start_index, branch.payload
        if branch.resume:
            resumed = await self._resume.walk(delivery, branch)
            if resumed is None:
                return
            index, payload = resumed
        count = len(self.slots)
        while index < count:
            self.check_stopped()
            slot = self.slots[index]
            if slot.condition is not None and not evaluate_condition(slot.condition, payload):
                self.runtime.lineage.skip(self._invocation(delivery, branch, slot), payload)
                index += 1
                continue
            outcome = await self._invoke(delivery, branch, slot, payload)
            if outcome is None:
                return
            if outcome.children and index + 1 == count:
                # The children have no adapter left: their branches would only publish, so
                # publish them here in batches instead of starting a task per child.
                await self._publish_children(delivery, branch, outcome)
            for child_id, child_payload in outcome.children if index + 1 < count else ():
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
            payload = outcome.message
            index += 1
        await self._publish_outputs(delivery, branch, payload)

    async def spawn(self, delivery: Delivery, parent: Branch, child: Branch) -> None:
        if parent.holds_unit:
            # Nested fan-out may overdraw: waiting here while holding a unit could deadlock.
            self.budget.acquire_nowait()
        else:
            await self._take_budget()
        child.holds_unit = True
        delivery.branches.start(self._run_branch(delivery, child), name=f"branch:{self.route_id}:{child.message_id}")

    # ------------------------------------------------------------------ waiting helpers

    def check_stopped(self) -> None:
        if self.runtime.cancelling.is_set():
            raise Stopped

    async def _sleep_or_stop(self, seconds: float) -> None:
        """Wait `seconds`, or raise `Stopped` as soon as the execution starts cancelling."""
        self.check_stopped()
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await self.runtime.cancelling.wait()
        except TimeoutError:
            return
        raise Stopped

    async def _until_stopped(self, acquire: Callable[[], Awaitable[None]]) -> None:
        """Run `acquire()`; give up with `Stopped` if the execution starts cancelling first."""
        self.check_stopped()
        task = asyncio.ensure_future(acquire())
        stop = asyncio.ensure_future(self.runtime.cancelling.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, stop):
                if not pending.done():
                    pending.cancel()
            await asyncio.wait({task, stop})
        if task.cancelled():
            raise Stopped
        task.result()

    async def _take_budget(self) -> None:
        """One fan-out budget unit; waits (giving up on cancel) only when the budget is used up."""
        if not self.budget.try_acquire():
            await self._until_stopped(self.budget.acquire)

    async def _acquire_gates(self) -> None:
        gate1 = self.runtime.execution_gate
        await gate1.acquire()
        try:
            await self.limiter.acquire()
        except BaseException:
            gate1.release()
            raise

    def _release_gates(self) -> None:
        self.limiter.release()
        self.runtime.execution_gate.release()

    # ------------------------------------------------------------------ one invocation

    def _invocation(self, delivery: Delivery, branch: Branch, slot: AdapterSlot) -> StageInvocation:
        return StageInvocation(
            execution_id=self.runtime.execution_id,
            route_id=self.route_id,
            stage_name=slot.stage,
            adapter_name=slot.adapter_name,
            adapter_index=slot.index,
            correlation_id=branch.message_id,
            parent_correlation_id=branch.parent_id,
            delivery_count=delivery.delivery_count,
            replay_batch_id=delivery.replay_batch_id,
            trace_id=delivery.trace_id,
            recovered=delivery.recovered,
        )

    def _context(
        self, delivery: Delivery, branch: Branch, slot: AdapterSlot, payload: dict[str, Any], row: LineageRecord
    ) -> PipelineContext:
        runtime = self.runtime
        return PipelineContext(
            message=fresh_copy(payload),
            correlation_id=branch.message_id,
            parent_correlation_id=branch.parent_id,
            execution_id=runtime.execution_id,
            route_id=self.route_id,
            stage_name=slot.stage,
            adapter_index=slot.index,
            metadata=MappingProxyType(delivery.message.metadata),
            delivery_count=delivery.delivery_count,
            attempt=int(row.metadata.get("attempts", 1)),
            replay_batch_id=delivery.replay_batch_id,
            lineage_id=row.id,
            config_hash=runtime.config_hash,
            storage=runtime.storage,
            paths=StagePaths(runtime.execution_id, self.route_id, slot.stage, branch.message_id),
            logger=logging.LoggerAdapter(
                adapter_logger,
                {
                    "execution_id": runtime.execution_id,
                    "route_id": self.route_id,
                    "stage": slot.stage,
                    "correlation_id": branch.message_id,
                },
            ),
        )

    async def _invoke(
        self, delivery: Delivery, branch: Branch, slot: AdapterSlot, payload: dict[str, Any]
    ) -> Outcome | None:
        """Invoke one adapter for one branch, with gates, breaker, timeout and retries.

        Returns the outputs, or None when the branch ended (no output, or dead-lettered).
        """
        lineage = self.runtime.lineage
        row = lineage.begin(self._invocation(delivery, branch, slot), payload)
        active = 0.0
        attempt = 1
        breaker = slot.breaker
        try:
            while True:
                await self._acquire_gates()
                try:
                    self.check_stopped()
                    breaker.acquire()
                except CircuitOpenError as exc:
                    self._release_gates()
                    row = lineage.set_pending(row, deferred_until=exc.retry_at)
                    await self._wait_for_breaker(breaker, exc.retry_after_seconds)
                    row = lineage.resume(row, attempt=attempt)
                    continue
                except BaseException:
                    self._release_gates()
                    raise
                context = self._context(delivery, branch, slot, payload, row)
                started = time.perf_counter()
                error: Exception | None = None
                result: Any = None
                try:
                    result = await self._call(slot, context)
                except asyncio.CancelledError:
                    breaker.record_ignored()
                    raise
                except Exception as exc:
                    error = exc
                finally:
                    elapsed = time.perf_counter() - started
                    self._release_gates()
                active += elapsed
                branch.invoked = True
                branch.active_ms += elapsed * 1000.0
                self.counters.observe_duration(slot.adapter_name, elapsed)
                breaker.record(error)
                if error is None:
                    break
                if isinstance(error, NonRetryableError):
                    await self._dead_letter(delivery, branch, slot, payload, row, error, "non_retryable", active)
                    return None
                if attempt > self.policy.max_retries:
                    await self._dead_letter(delivery, branch, slot, payload, row, error, "retries_exhausted", active)
                    return None
                delay = retry_delay(self.policy, attempt)
                self.counters.retried += 1
                self.counters.retried_by_adapter[slot.adapter_name] += 1
                row = lineage.set_pending(row, error=error, deferred_until=datetime.now(UTC) + timedelta(seconds=delay))
                logger.info(
                    "Adapter %r failed on %r (attempt %d: %s); retrying in %.2fs",
                    slot.adapter_name,
                    branch.message_id,
                    attempt,
                    error,
                    delay,
                )
                await self._sleep_or_stop(delay)
                attempt += 1
                row = lineage.resume(row, attempt=attempt)
            return await self._finish_invocation(delivery, branch, slot, payload, row, result, active)
        except (Stopped, asyncio.CancelledError):
            lineage.cancel(row, duration_ms=active * 1000.0)
            raise

    async def _wait_for_breaker(self, breaker: CircuitBreaker, seconds: float) -> None:
        """Wait (holding no gate) until the breaker may admit a call, it changes state, or cancel."""
        await self._until_stopped(lambda: breaker.wait_for_change(seconds))

    async def _call(self, slot: AdapterSlot, context: PipelineContext) -> Any:
        """`adapter.process(context)` within `timeout_seconds`."""
        timeout = slot.timeout_seconds
        if timeout is None:
            return await slot.adapter.process(context)
        async with asyncio.timeout(timeout):
            return await slot.adapter.process(context)

    async def _finish_invocation(
        self,
        delivery: Delivery,
        branch: Branch,
        slot: AdapterSlot,
        payload: dict[str, Any],
        row: LineageRecord,
        result: Any,
        active: float,
    ) -> Outcome | None:
        lineage = self.runtime.lineage
        if result is None or (isinstance(result, AdapterResult) and result.is_empty):
            lineage.complete(row, result if isinstance(result, AdapterResult) else None, duration_ms=active * 1000.0)
            return None
        try:
            outputs = check_result(
                result,
                message_id=branch.message_id,
                route_id=self.route_id,
                slot=slot,
                max_bytes=self.runtime.options.max_message_bytes,
            )
        except BadOutput as exc:
            await self._dead_letter(delivery, branch, slot, payload, row, exc, exc.reason, active)
            return None
        assert isinstance(result, AdapterResult)
        storage_started = time.perf_counter()
        try:
            storage_key = await store_outputs(delivery, branch, slot, row, result, outputs)
        except ValueError as exc:  # sidecar fields (storage_metadata) that JSON cannot express
            await self._dead_letter(delivery, branch, slot, payload, row, exc, "output_not_serializable", active)
            return None
        active += time.perf_counter() - storage_started
        lineage.complete(row, result, storage_key=storage_key, duration_ms=active * 1000.0)
        metadata = branch.metadata
        if result.metadata:
            metadata = {**metadata, **carried_metadata(result.metadata)}
        return Outcome(message=outputs.message, children=outputs.children, metadata=metadata)

    # ------------------------------------------------------------------ dead-lettering

    async def _dead_letter(
        self,
        delivery: Delivery,
        branch: Branch,
        slot: AdapterSlot,
        payload: dict[str, Any],
        row: LineageRecord,
        error: BaseException,
        reason: DeadLetterReason,
        active: float,
    ) -> None:
        attempts = int(row.metadata.get("attempts", 1))
        retryable = reason == "retries_exhausted"
        row = self.runtime.lineage.fail(
            row, error=error, retryable=retryable, dead_lettered=True, duration_ms=active * 1000.0
        )
        error_info = row.error_info or build_error_info(error, attempts=attempts, retryable=retryable)
        logger.warning(
            "Dead-lettering %r in route %r at adapter %r (%s): %s",
            branch.message_id,
            self.route_id,
            slot.adapter_name,
            reason,
            error,
        )
        envelope = QueueMessage(
            id=branch.message_id,
            parent_id=branch.parent_id,
            execution_id=self.runtime.execution_id,
            route_id=self.route_id,
            payload=payload,
            metadata={
                **branch.metadata,
                **self._envelope_metadata(delivery, delivery.hop_count),
                "dead_letter": {
                    "reason": reason,
                    "error_info": error_info,
                    "route_id": self.route_id,
                    "adapter_index": slot.index,
                    "stage": slot.stage,
                    "attempts": attempts,
                    "failed_at": utc_now_rfc3339(),
                },
            },
        )
        await self._publish(branch, self.dead_letter_queue, envelope)
        delivery.dead_lettered += 1
        self.runtime.accountant.dead_lettered(branch.message_id)
        self.counters.dead_lettered += 1
        self.counters.failed_by_adapter[slot.adapter_name] += 1
        self.runtime.events(
            MessageDeadLettered(
                correlation_id=branch.message_id,
                route_id=self.route_id,
                adapter_name=slot.adapter_name,
                dead_letter_queue=self.dead_letter_queue,
                error_info=error_info,
            )
        )

    # ------------------------------------------------------------------ publishing

    def _envelope_metadata(self, delivery: Delivery, hop_count: int) -> dict[str, Any]:
        metadata: dict[str, Any] = {"hop_count": hop_count}
        if delivery.trace_id is not None:
            metadata["trace_id"] = delivery.trace_id
        if delivery.replay_batch_id is not None:
            metadata["replay_batch_id"] = delivery.replay_batch_id
        return metadata

    async def _publish_outputs(self, delivery: Delivery, branch: Branch, payload: dict[str, Any]) -> None:
        """Send one final output to every outbound queue whose condition holds."""
        if not self.outbound:
            return
        consumed = self.runtime.consumed_queues
        metadata = {**branch.metadata, **self._envelope_metadata(delivery, delivery.hop_count + 1)}
        for queue, condition in self.outbound:
            if condition is not None and not evaluate_condition(condition, payload):
                continue
            self.check_stopped()
            envelope = QueueMessage(
                id=branch.message_id,
                parent_id=branch.parent_id,
                execution_id=self.runtime.execution_id,
                route_id=consumed.get(queue),
                payload=payload,
                metadata=metadata,
            )
            await self._publish(branch, queue, envelope)

    async def _publish_children(self, delivery: Delivery, parent: Branch, outcome: Outcome) -> None:
        """Publish fan-out children that are final outputs, as their own branches would.

        Each child goes to every outbound queue whose condition holds, with the metadata a child
        branch would carry. Children are sent in chunks of at most `_CHILD_CHUNK`, each holding
        one fan-out budget unit per child until its publishes are confirmed (gate 3, as a child
        branch holds one); a chunk only ever takes the units free at that moment (at least one,
        waiting for it), so two fan-outs can never deadlock holding half the budget each.
        """
        if not self.outbound:
            return
        children = outcome.children
        consumed = self.runtime.consumed_queues
        execution_id = self.runtime.execution_id
        metadata = {**outcome.metadata, **self._envelope_metadata(delivery, delivery.hop_count + 1)}
        start = 0
        while start < len(children):
            self.check_stopped()
            taken = await self._take_units(parent, min(len(children) - start, _CHILD_CHUNK))
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
                            created_at=created_at,
                        )
                        for child_id, child_payload in chunk
                        if condition is None or evaluate_condition(condition, child_payload)
                    ]
                    if envelopes:
                        self.check_stopped()
                        await self._publish_batch(queue, envelopes)
            finally:
                for _ in range(taken):
                    self.budget.release()
            start += taken

    async def _take_units(self, parent: Branch, wanted: int) -> int:
        """Take between one and `wanted` fan-out budget units; waits only for the first."""
        if parent.holds_unit:
            # Nested fan-out overdraws, as `spawn` does: waiting while holding a unit could deadlock.
            for _ in range(wanted):
                self.budget.acquire_nowait()
            return wanted
        await self._take_budget()
        taken = 1
        while taken < wanted and self.budget.try_acquire():
            taken += 1
        return taken

    async def _publish_batch(self, queue: str, envelopes: list[QueueMessage]) -> None:
        """`publish_batch` through the scoped queue, retrying while the queue is down."""
        delay = self.runtime.options.publish_retry_initial_seconds
        while True:
            try:
                await self.runtime.queue.publish_batch(queue, envelopes)
                return
            except QueueError as exc:
                logger.warning(
                    "Publish of %d children to %r failed (%s); retrying in %.1fs", len(envelopes), queue, exc, delay
                )
                await self._sleep_or_stop(delay)
                delay = min(self.runtime.options.publish_retry_max_seconds, delay * 2)

    async def _publish(self, branch: Branch, queue: str, envelope: QueueMessage) -> PublishStatus:
        """Publish through the scoped queue, holding a budget unit, retrying while the queue is down."""
        took_unit = False
        if not branch.holds_unit:
            await self._take_budget()
            took_unit = True
        try:
            delay = self.runtime.options.publish_retry_initial_seconds
            while True:
                try:
                    return await self.runtime.queue.publish(queue, envelope)
                except QueueError as exc:
                    logger.warning("Publish of %r to %r failed (%s); retrying in %.1fs", envelope.id, queue, exc, delay)
                    await self._sleep_or_stop(delay)
                    delay = min(self.runtime.options.publish_retry_max_seconds, delay * 2)
        finally:
            if took_unit:
                self.budget.release()
