"""`Invoker` alone: gates, breaker, timeout and retries of one adapter call."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from factflow_engine.config import AdapterConfig, CircuitBreakerConfig, ErrorHandlingConfig
from factflow_engine.runtime import CompletionAccountant, RouteCounters
from factflow_engine.runtime._backpressure import AdaptiveLimiter
from factflow_engine.runtime._cancel import Cancellation
from factflow_engine.runtime._circuit_breaker import CircuitBreaker
from factflow_engine.runtime._context import AdapterSlot
from factflow_engine.runtime._delivery import Branch, Delivery, Invocation, NotHeld, RouteExecutionCounts, Stopped
from factflow_engine.runtime._events import EventEmitter
from factflow_engine.runtime._invoke import CallFailed, CallSucceeded, ContextFactory, Invoker
from factflow_engine.runtime._observers import DeliveryObservers
from factflow_engine.runtime._stages import CountedStages, StageCounts, StageRow
from factflow_engine.storage import StageIdentity, StageStorageAdapter, StorageBackendAdapter
from factflow_infra.storage import FilesystemStorageProvider
from factflow_protocols import (
    AdapterResult,
    NonRetryableError,
    PipelineAdapter,
    PipelineContext,
    QueueMessage,
    holding_delivery,
)

EXEC = "0190a000-0000-7000-8000-000000000001"


class Scripted(PipelineAdapter):
    """Raises or returns the scripted outcomes in turn; records every context."""

    adapter_type = "scripted"

    def __init__(self, *outcomes: object) -> None:
        super().__init__()
        self.outcomes = list(outcomes)
        self.contexts: list[PipelineContext] = []

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        self.contexts.append(context)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome == "hang":
            await asyncio.sleep(3600)
        return outcome if isinstance(outcome, AdapterResult) else None


class Transitions(CountedStages):
    """Counted stages that also remember each transition."""

    def __init__(self) -> None:
        super().__init__(StageCounts())
        self.seen: list[str] = []
        self._changed = asyncio.Event()

    def _note(self, transition: str) -> None:
        self.seen.append(transition)
        self._changed.set()

    async def reached(self, transition: str) -> None:
        while transition not in self.seen:
            self._changed.clear()
            await self._changed.wait()

    def begin(self, invocation: Invocation) -> StageRow:
        self._note("begin")
        return super().begin(invocation)

    def pending(self, row: StageRow, *, deferred_until: datetime | None, error: BaseException | None = None) -> None:
        self._note("pending" if error is None else f"pending:{type(error).__name__}")

    def resume(self, row: StageRow, *, attempt: int) -> None:
        self._note(f"resume:{attempt}")
        super().resume(row, attempt=attempt)

    def cancel(self, row: StageRow, *, duration_ms: float) -> None:
        self._note("cancel")


def _slot(adapter: PipelineAdapter, tmp_path: Any, *, threshold: int = 100, **entry: Any) -> AdapterSlot:
    config = AdapterConfig.model_validate({"type": "scripted", **entry})
    storage = StageStorageAdapter(
        StorageBackendAdapter(FilesystemStorageProvider(tmp_path)),
        identity=StageIdentity(EXEC, "r", config.stage_name, "scripted", 0),
        config=config.storage,
    )
    breaker = CircuitBreaker(
        CircuitBreakerConfig(failure_threshold=threshold, recovery_timeout_seconds=60), name="r/scripted"
    )
    return AdapterSlot(index=0, config=config, adapter=adapter, breaker=breaker, storage=storage)


class World:
    def __init__(self, slot: AdapterSlot, *, max_retries: int = 2) -> None:
        self.gate = asyncio.Semaphore(2)
        self.limiter = AdaptiveLimiter(2)
        self.cancelling = asyncio.Event()
        self.stages = Transitions()
        self.counters = RouteCounters("r")
        self.observers = DeliveryObservers(
            route_id="r",
            dead_letter_queue="dlq.r",
            counters=self.counters,
            execution_counts=RouteExecutionCounts(),
            accountant=CompletionAccountant(()),
            events=EventEmitter(None, EXEC),
        )
        self.invoker = Invoker(
            policy=ErrorHandlingConfig(max_retries=max_retries, retry_delay_seconds=0.001, backoff="fixed"),
            execution_gate=self.gate,
            limiter=self.limiter,
            cancellation=Cancellation(self.cancelling),
            stages=self.stages,
            observers=self.observers,
            contexts=ContextFactory(execution_id=EXEC, route_id="r", config_hash="sha256:c", storage=None),
        )
        message = QueueMessage(id="0190a000-0000-7000-8000-0000000000aa", payload={"n": 1}, metadata={"k": "v"})
        delivery = Delivery(message, 1, 0, None, None, False, None)
        branch = Branch(message.id, None, message.payload, 0, {})
        self.invocation = Invocation("r", delivery, branch, slot, message.payload)

    def gates_free(self) -> bool:
        return self.limiter.in_use == 0 and self.gate._value == 2


async def test_a_successful_call_leaves_the_row_open_and_frees_the_gates(tmp_path: Any) -> None:
    result = AdapterResult(message={"n": 2})
    adapter = Scripted(result)
    world = World(_slot(adapter, tmp_path))
    called = await world.invoker.invoke(world.invocation)
    assert isinstance(called, CallSucceeded)
    assert called.result is result
    assert world.stages.seen == ["begin"]
    assert world.gates_free()
    assert world.invocation.branch.invoked
    assert world.counters.durations["scripted"].count == 1
    context = adapter.contexts[0]
    assert context.message == {"n": 1} and context.message is not world.invocation.payload
    assert context.lineage_id == called.row.id and context.attempt == 1
    assert dict(context.metadata) == {"k": "v"} and context.config_hash == "sha256:c"


async def test_retryable_failures_retry_until_the_policy_gives_up(tmp_path: Any) -> None:
    adapter = Scripted(ValueError("a"), ValueError("b"), ValueError("c"))
    world = World(_slot(adapter, tmp_path), max_retries=2)
    called = await world.invoker.invoke(world.invocation)
    assert isinstance(called, CallFailed)
    assert called.reason == "retries_exhausted" and str(called.error) == "c"
    assert [context.attempt for context in adapter.contexts] == [1, 2, 3]
    assert called.row.attempts == 3
    assert world.stages.seen == ["begin", "pending:ValueError", "resume:2", "pending:ValueError", "resume:3"]
    assert world.counters.retried == 2 and world.counters.retried_by_adapter["scripted"] == 2
    assert world.gates_free()


async def test_a_retry_that_succeeds_returns_its_result(tmp_path: Any) -> None:
    adapter = Scripted(ValueError("once"), AdapterResult(message={"ok": True}))
    world = World(_slot(adapter, tmp_path))
    called = await world.invoker.invoke(world.invocation)
    assert isinstance(called, CallSucceeded) and called.row.attempts == 2


async def test_non_retryable_failures_are_not_retried(tmp_path: Any) -> None:
    adapter = Scripted(NonRetryableError("bad input"))
    world = World(_slot(adapter, tmp_path))
    called = await world.invoker.invoke(world.invocation)
    assert isinstance(called, CallFailed) and called.reason == "non_retryable"
    assert len(adapter.contexts) == 1 and world.counters.retried == 0


async def test_a_call_past_its_timeout_fails_like_any_other(tmp_path: Any) -> None:
    adapter = Scripted("hang")
    world = World(_slot(adapter, tmp_path, timeout_seconds=0.1), max_retries=0)
    called = await world.invoker.invoke(world.invocation)
    assert isinstance(called, CallFailed) and isinstance(called.error, TimeoutError)
    assert world.gates_free()


async def test_an_open_breaker_defers_without_holding_gates_until_cancelled(tmp_path: Any) -> None:
    adapter = Scripted(AdapterResult(message={}))
    slot = _slot(adapter, tmp_path, threshold=1)
    slot.breaker.acquire()
    slot.breaker.record(ValueError("trip"))  # threshold 1: open for 60 s
    world = World(slot)
    task = asyncio.create_task(world.invoker.invoke(world.invocation))
    await world.stages.reached("pending")
    assert world.gates_free()
    world.cancelling.set()
    with pytest.raises(Stopped):
        await task
    assert world.stages.seen == ["begin", "pending", "cancel"]
    assert adapter.contexts == []


async def test_cancelling_during_the_retry_wait_cancels_the_row(tmp_path: Any) -> None:
    adapter = Scripted(ValueError("a"))
    world = World(_slot(adapter, tmp_path))
    world.invoker._policy = ErrorHandlingConfig(max_retries=3, retry_delay_seconds=60)
    task = asyncio.create_task(world.invoker.invoke(world.invocation))
    await world.stages.reached("pending:ValueError")
    world.cancelling.set()
    with pytest.raises(Stopped):
        await task
    assert world.stages.seen[-1] == "cancel"
    assert world.gates_free()


class Hold:
    """A queue's hold on the delivery: `fresh` answers without a call; `confirm` answers when asked."""

    def __init__(self, *, fresh: bool, held: bool = True) -> None:
        self.fresh = fresh
        self.held = held
        self.asked = 0
        self.waiting = asyncio.Event()
        self.answer = asyncio.Event()
        self.answer.set()

    def surely_held(self) -> bool:
        return self.fresh

    async def confirm_held(self) -> bool:
        self.asked += 1
        self.waiting.set()
        await self.answer.wait()
        return self.held


async def test_a_delivery_the_queue_no_longer_holds_is_not_called_and_begins_no_row(tmp_path: Any) -> None:
    adapter = Scripted(AdapterResult(message={"n": 2}))
    world = World(_slot(adapter, tmp_path))
    hold = Hold(fresh=False, held=False)
    with holding_delivery(hold), pytest.raises(NotHeld):
        await world.invoker.invoke(world.invocation)
    assert hold.asked == 1
    assert adapter.contexts == []
    assert world.stages.seen == []  # no row: the new owner writes the lineage of this delivery
    assert world.gates_free()


async def test_a_lease_the_queue_confirms_lets_the_call_run_and_a_fresh_one_is_not_asked(tmp_path: Any) -> None:
    for hold, asked in ((Hold(fresh=False, held=True), 1), (Hold(fresh=True, held=False), 0)):
        adapter = Scripted(AdapterResult(message={"n": 2}))
        world = World(_slot(adapter, tmp_path))
        with holding_delivery(hold):
            called = await world.invoker.invoke(world.invocation)
        assert isinstance(called, CallSucceeded)
        assert hold.asked == asked
        assert world.stages.seen == ["begin"]
        assert world.gates_free()


async def test_a_stopping_execution_ends_the_wait_for_the_queues_answer(tmp_path: Any) -> None:
    adapter = Scripted(AdapterResult(message={"n": 2}))
    world = World(_slot(adapter, tmp_path))
    hold = Hold(fresh=False)
    hold.answer.clear()  # the queue is unreachable: no answer until the stop
    with holding_delivery(hold):
        call = asyncio.create_task(world.invoker.invoke(world.invocation))
        await hold.waiting.wait()
        world.cancelling.set()
        with pytest.raises(Stopped) as stopped:
            await call
    assert type(stopped.value) is Stopped
    assert adapter.contexts == [] and world.stages.seen == []
    assert world.gates_free()
