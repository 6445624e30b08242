"""`Invoker`: one adapter call for one branch — gates → breaker → timeout → retry → outcome."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import MappingProxyType
from typing import Any, Literal

from factflow_engine.config import ErrorHandlingConfig
from factflow_foundation import StagePaths
from factflow_protocols import DeliveryHold, NonRetryableError, PipelineContext, StorageProtocol, current_delivery_hold

from ._backpressure import AdaptiveLimiter
from ._cancel import Cancellation
from ._circuit_breaker import CircuitBreaker
from ._delivery import Invocation, NotHeld, Stopped, fresh_copy
from ._errors import CircuitOpenError
from ._observers import DeliveryObservers
from ._retry import retry_delay
from ._stages import StageFacts, StageRow

__all__ = ("CallFailed", "CallSucceeded", "ContextFactory", "Invoker")

logger = logging.getLogger(__name__)
adapter_logger = logging.getLogger("factflow.adapter")


@dataclass(slots=True)
class CallSucceeded:
    """The adapter returned `result` (anything: the chain checks it)."""

    result: Any
    row: StageRow
    active_seconds: float
    """Time spent inside the adapter over every attempt (no waiting)."""


@dataclass(slots=True)
class CallFailed:
    """The adapter failed for good: not retryable, or out of retries. The row is still open."""

    error: Exception
    reason: Literal["non_retryable", "retries_exhausted"]
    row: StageRow
    active_seconds: float


class ContextFactory:
    """Builds the `PipelineContext` of each call of one route.

    Args:
        execution_id: The execution.
        route_id: The route.
        config_hash: The pipeline config's hash.
        storage: The storage adapters may write artefacts to.
    """

    __slots__ = ("_config_hash", "_execution_id", "_route_id", "_storage")

    def __init__(
        self, *, execution_id: str, route_id: str, config_hash: str | None, storage: StorageProtocol | None
    ) -> None:
        self._execution_id = execution_id
        self._route_id = route_id
        self._config_hash = config_hash
        self._storage = storage

    def __call__(self, invocation: Invocation, row: StageRow) -> PipelineContext:
        delivery, branch, slot = invocation.delivery, invocation.branch, invocation.slot
        execution_id, route_id = self._execution_id, self._route_id
        return PipelineContext(
            message=fresh_copy(invocation.payload),
            correlation_id=branch.message_id,
            parent_correlation_id=branch.parent_id,
            execution_id=execution_id,
            route_id=route_id,
            stage_name=slot.stage,
            adapter_index=slot.index,
            # What adapters always saw: the metadata map as it travels, control fields included.
            metadata=MappingProxyType(delivery.message.wire_metadata()),
            delivery_count=delivery.delivery_count,
            attempt=row.attempts,
            replay_batch_id=delivery.replay_batch_id,
            lineage_id=row.id,
            config_hash=self._config_hash,
            storage=self._storage,
            paths=StagePaths(execution_id, route_id, slot.stage, branch.message_id),
            logger=logging.LoggerAdapter(
                adapter_logger,
                {
                    "execution_id": execution_id,
                    "route_id": route_id,
                    "stage": slot.stage,
                    "correlation_id": branch.message_id,
                },
            ),
        )


class Invoker:
    """Calls one adapter for one branch until it succeeds or fails for good.

    Each attempt takes gate 1 (the execution's handler semaphore) and gate 2 (the route's AIMD
    limiter) and makes sure the queue still holds the delivery for this process: a delivery read
    ahead may have waited for the gates past its lease while this process was cut off from a
    shared queue, and another worker taken it; then `NotHeld` ends the branch, before the first
    attempt's row exists. The first attempt then begins the row. Each attempt asks the adapter's
    breaker (an open breaker defers the call, holding no gate, and the row waits `pending`), runs
    `process` within `timeout_seconds`, and feeds the breaker. A retryable failure waits its
    backoff (`pending`), then tries again; `Stopped` or task cancellation marks the row
    `cancelled` (when it exists) and propagates.

    The row is left open on return: the caller completes it (with the outputs) or fails it (with
    the dead letter), and cancels it if the execution stops meanwhile.

    Args:
        policy: The route's merged `error_handling`.
        execution_gate: Gate 1.
        limiter: Gate 2.
        cancellation: The execution's stop signal.
        stages: The lineage facts of the calls.
        observers: The route's delivery observers (durations, retries).
        contexts: Builds each call's `PipelineContext`.
    """

    def __init__(
        self,
        *,
        policy: ErrorHandlingConfig,
        execution_gate: asyncio.Semaphore,
        limiter: AdaptiveLimiter,
        cancellation: Cancellation,
        stages: StageFacts,
        observers: DeliveryObservers,
        contexts: ContextFactory,
    ) -> None:
        self._policy = policy
        self._gate = execution_gate
        self._limiter = limiter
        self._cancellation = cancellation
        self._stages = stages
        self._observers = observers
        self._contexts = contexts

    async def invoke(self, invocation: Invocation) -> CallSucceeded | CallFailed:
        """Call the adapter of `invocation` with gates, breaker, timeout and retries."""
        stages = self._stages
        slot, branch = invocation.slot, invocation.branch
        breaker = slot.breaker
        row: StageRow | None = None
        active = 0.0
        attempt = 1
        try:
            while True:
                await self._acquire_gates()
                try:
                    self._cancellation.check()
                    row = await self._admit(invocation, row)
                except BaseException:
                    self._release_gates()
                    raise
                try:
                    breaker.acquire()
                except CircuitOpenError as exc:
                    self._release_gates()
                    stages.pending(row, deferred_until=exc.retry_at)
                    await self._wait_for_breaker(breaker, exc.retry_after_seconds)
                    stages.resume(row, attempt=attempt)
                    continue
                except BaseException:
                    self._release_gates()
                    raise
                context = self._contexts(invocation, row)
                started = time.perf_counter()
                error: Exception | None = None
                result: Any = None
                try:
                    result = await self._call(invocation, context)
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
                self._observers.invoked(slot.adapter_name, elapsed)
                breaker.record(error)
                if error is None:
                    return CallSucceeded(result, row, active)
                if isinstance(error, NonRetryableError):
                    return CallFailed(error, "non_retryable", row, active)
                if attempt > self._policy.max_retries:
                    return CallFailed(error, "retries_exhausted", row, active)
                delay = retry_delay(self._policy, attempt)
                self._observers.retried(slot.adapter_name)
                stages.pending(row, error=error, deferred_until=datetime.now(UTC) + timedelta(seconds=delay))
                logger.info(
                    "Adapter %r failed on %r (attempt %d: %s); retrying in %.2fs",
                    slot.adapter_name,
                    branch.message_id,
                    attempt,
                    error,
                    delay,
                )
                await self._cancellation.sleep(delay)
                attempt += 1
                stages.resume(row, attempt=attempt)
        except (Stopped, asyncio.CancelledError):
            if row is not None:
                stages.cancel(row, duration_ms=active * 1000.0)
            raise

    async def _acquire_gates(self) -> None:
        gate1 = self._gate
        await gate1.acquire()
        try:
            await self._limiter.acquire()
        except BaseException:
            gate1.release()
            raise

    async def _admit(self, invocation: Invocation, row: StageRow | None) -> StageRow:
        """With the gates held: `NotHeld` if the delivery is no longer this process's; the row, begun on attempt 1."""
        hold = current_delivery_hold()
        if hold is not None and not hold.surely_held():
            await self._cancellation.race(partial(self._confirm_held, hold, invocation))
        return self._stages.begin(invocation) if row is None else row

    @staticmethod
    async def _confirm_held(hold: DeliveryHold, invocation: Invocation) -> None:
        if not await hold.confirm_held():
            logger.info(
                "Not running %r of %r in route %r: another worker took the delivery after its lease lapsed",
                invocation.slot.stage,
                invocation.branch.message_id,
                invocation.route_id,
            )
            raise NotHeld

    def _release_gates(self) -> None:
        self._limiter.release()
        self._gate.release()

    async def _wait_for_breaker(self, breaker: CircuitBreaker, seconds: float) -> None:
        """Wait (holding no gate) until the breaker may admit a call, it changes state, or cancel."""
        await self._cancellation.race(lambda: breaker.wait_for_change(seconds))

    @staticmethod
    async def _call(invocation: Invocation, context: PipelineContext) -> Any:
        """`adapter.process(context)` within `timeout_seconds`."""
        slot = invocation.slot
        timeout = slot.timeout_seconds
        if timeout is None:
            return await slot.adapter.process(context)
        async with asyncio.timeout(timeout):
            return await slot.adapter.process(context)
