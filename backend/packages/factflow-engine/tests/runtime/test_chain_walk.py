"""`ChainWalk` alone: branches, fan-out and what reaches the queues, with no orchestrator or harness."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from factflow_engine.config import AdapterConfig, BackpressureConfig, CircuitBreakerConfig, ErrorHandlingConfig
from factflow_engine.runtime import CompletionAccountant, ExecutionScopedQueue, RouteCounters
from factflow_engine.runtime._backpressure import BackpressureController
from factflow_engine.runtime._cancel import Cancellation
from factflow_engine.runtime._chain import ChainWalk
from factflow_engine.runtime._circuit_breaker import CircuitBreaker
from factflow_engine.runtime._context import AdapterSlot
from factflow_engine.runtime._delivery import RouteExecutionCounts
from factflow_engine.runtime._events import EventEmitter
from factflow_engine.runtime._gates import FanoutBudget
from factflow_engine.runtime._invoke import ContextFactory, Invoker
from factflow_engine.runtime._observers import DeliveryObservers
from factflow_engine.runtime._publisher import OutboundPublisher, PublishRetry
from factflow_engine.runtime._stages import StageCounts, stage_facts
from factflow_engine.storage import StageIdentity, StageStorageAdapter, StorageBackendAdapter, StorageBackoff
from factflow_infra.queue import MemoryQueueProvider
from factflow_infra.storage import FilesystemStorageProvider
from factflow_protocols import (
    AdapterResult,
    LineageRecord,
    LineageSink,
    MessageStatus,
    NonRetryableError,
    PipelineAdapter,
    PipelineContext,
    PublishStatus,
    QueueMessage,
    holding_delivery,
)

EXEC = "0190a000-0000-7000-8000-000000000001"
ROOT = "0190a000-0000-7000-8000-0000000000aa"


class Split(PipelineAdapter):
    adapter_type = "split"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return AdapterResult(emitted=[{"n": n} for n in context.message["items"]])


class Double(PipelineAdapter):
    """Doubles `n`; refuses `n == 2` for good."""

    adapter_type = "double"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        if context.message["n"] == 2:
            raise NonRetryableError("two")
        return AdapterResult(message={"n": context.message["n"] * 2})


class Recording(MemoryQueueProvider):
    def __init__(self) -> None:
        super().__init__()
        self.sent: dict[str, list[QueueMessage]] = {}

    async def publish(
        self, queue: str, message: QueueMessage, *, dedupe_scope: str | None = None, force: bool = False
    ) -> PublishStatus:
        self.sent.setdefault(queue.rsplit(":", 1)[-1], []).append(message)
        return await super().publish(queue, message, dedupe_scope=dedupe_scope, force=force)

    async def publish_batch(
        self, queue: str, messages: Sequence[QueueMessage], *, dedupe_scope: str | None = None
    ) -> list[PublishStatus]:
        self.sent.setdefault(queue.rsplit(":", 1)[-1], []).extend(messages)
        return await super().publish_batch(queue, messages, dedupe_scope=dedupe_scope)


def _slot(index: int, adapter: PipelineAdapter, storage: StorageBackendAdapter) -> AdapterSlot:
    config = AdapterConfig(type=adapter.adapter_type)
    return AdapterSlot(
        index=index,
        config=config,
        adapter=adapter,
        breaker=CircuitBreaker(CircuitBreakerConfig(failure_threshold=100), name=f"r/{config.stage_name}"),
        storage=StageStorageAdapter(
            storage, identity=StageIdentity(EXEC, "r", config.stage_name, adapter.adapter_type, index)
        ),
    )


def _walk(
    provider: MemoryQueueProvider, tmp_path: Path, cancelling: asyncio.Event, *, recorder: LineageSink | None = None
) -> tuple[ChainWalk, Any]:
    storage = StorageBackendAdapter(FilesystemStorageProvider(tmp_path))
    slots = [_slot(0, Split(), storage), _slot(1, Double(), storage)]
    cancellation = Cancellation(cancelling)
    budget = FanoutBudget(2)  # fewer units than children: branches wait for each other's
    counts = StageCounts()
    stages = stage_facts(execution_id=EXEC, counts=counts, recorder=recorder, event_sink=None)
    observers = DeliveryObservers(
        route_id="r",
        dead_letter_queue="dlq.r",
        counters=RouteCounters("r"),
        execution_counts=RouteExecutionCounts(),
        accountant=CompletionAccountant({"out"}),
        events=EventEmitter(None, EXEC),
    )
    backpressure = BackpressureController(BackpressureConfig(), 4)
    invoker = Invoker(
        policy=ErrorHandlingConfig(max_retries=0),
        execution_gate=asyncio.Semaphore(4),
        limiter=backpressure.limiter,
        cancellation=cancellation,
        stages=stages,
        observers=observers,
        contexts=ContextFactory(execution_id=EXEC, route_id="r", config_hash=None, storage=None),
    )
    publisher = OutboundPublisher(
        route_id="r",
        execution_id=EXEC,
        queue=ExecutionScopedQueue(provider, EXEC),
        outbound=[("out", None)],
        dead_letter_queue="dlq.r",
        consumed_queues={"out": "next"},
        budget=budget,
        cancellation=cancellation,
        retry=PublishRetry(initial_seconds=0.01, max_seconds=0.01, cancellation=cancellation),
    )
    walk = ChainWalk(
        route_id="r",
        slots=slots,
        invoker=invoker,
        publisher=publisher,
        stages=stages,
        observers=observers,
        cancellation=cancellation,
        backpressure=backpressure,
        budget=budget,
        storage_backoff=StorageBackoff(),
        replay_batch_id=None,
        max_message_bytes=1024,
        lineage_lookup=None,
        lookup_timeout=1.0,
    )
    return walk, (observers, counts, budget)


async def test_children_walk_on_as_branches_and_one_dead_letter_fails_the_delivery(tmp_path: Path) -> None:
    provider = Recording()
    await provider.connect()
    try:
        walk, (observers, counts, budget) = _walk(provider, tmp_path, asyncio.Event())
        message = QueueMessage(id=ROOT, payload={"items": [1, 2, 3, 4]}, metadata={"hop_count": 1, "k": "v"})
        assert await walk.run_delivery(message) is MessageStatus.ACK
        outputs = provider.sent["out"]
        assert sorted(output.payload["n"] for output in outputs) == [2, 6, 8]
        assert {output.parent_id for output in outputs} == {ROOT}
        assert all(output.wire_metadata() == {"k": "v", "hop_count": 2} for output in outputs)
        (dead,) = provider.sent["dlq.r"]
        assert dead.payload == {"n": 2} and (dead.control.dead_letter or {})["reason"] == "non_retryable"
        assert (dead.control.dead_letter or {})["adapter_index"] == 1
        assert observers.execution_counts.failed == 1 and observers.counters.dead_lettered == 1
        assert (counts.completed, counts.failed) == (4, 1)  # split once, double three times
        assert budget.in_use == 0
    finally:
        await provider.close()


async def test_a_stopping_execution_leaves_the_delivery_unacknowledged(tmp_path: Path) -> None:
    provider = Recording()
    await provider.connect()
    try:
        cancelling = asyncio.Event()
        walk, (_, _, budget) = _walk(provider, tmp_path, cancelling)
        cancelling.set()
        message = QueueMessage(id=ROOT, payload={"items": [1]}, metadata={})
        assert await walk.run_delivery(message) is MessageStatus.RETRY
        assert provider.sent == {} and budget.in_use == 0
    finally:
        await provider.close()


class Rows:
    def __init__(self) -> None:
        self.recorded: list[LineageRecord] = []

    def record(self, entry: LineageRecord) -> None:
        self.recorded.append(entry)


class Lapsed:
    """The hold of a delivery whose lease lapsed and that another consumer took meanwhile."""

    def surely_held(self) -> bool:
        return False

    async def confirm_held(self) -> bool:
        return False


async def test_a_delivery_the_queue_no_longer_holds_runs_nothing_and_writes_no_row(tmp_path: Path) -> None:
    provider = Recording()
    await provider.connect()
    try:
        rows = Rows()
        walk, (observers, counts, budget) = _walk(provider, tmp_path, asyncio.Event(), recorder=rows)
        message = QueueMessage(id=ROOT, payload={"items": [1, 2]}, metadata={})
        with holding_delivery(Lapsed()):
            assert await walk.run_delivery(message) is MessageStatus.RETRY  # left unacked, to its new owner
        assert rows.recorded == []
        assert provider.sent == {}
        assert (counts.completed, counts.failed) == (0, 0) and budget.in_use == 0
        assert observers.counters.dead_lettered == 0
    finally:
        await provider.close()
