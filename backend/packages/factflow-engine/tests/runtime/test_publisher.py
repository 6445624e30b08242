"""`OutboundPublisher` alone: outputs, children, dead letters and the one publish-retry policy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from factflow_engine.config import ConditionConfig
from factflow_engine.runtime import CompletionAccountant, ExecutionScopedQueue
from factflow_engine.runtime._cancel import Cancellation
from factflow_engine.runtime._delivery import Branch, Delivery, Stopped
from factflow_engine.runtime._gates import FanoutBudget
from factflow_engine.runtime._publisher import OutboundPublisher, PublishRetry
from factflow_infra.queue import MemoryQueueProvider
from factflow_protocols import PublishStatus, QueueMessage, QueueUnavailableError

EXEC = "0190a000-0000-7000-8000-000000000001"
MESSAGE_ID = "0190a000-0000-7000-8000-0000000000aa"


class Flaky(MemoryQueueProvider):
    """Fails the first `failures` publishes as if the backend were down; keeps what it was sent."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.sent: dict[str, list[QueueMessage]] = {}
        self.failed = asyncio.Event()

    async def publish(
        self, queue: str, message: QueueMessage, *, dedupe_scope: str | None = None, force: bool = False
    ) -> PublishStatus:
        if self.failures:
            self.failures -= 1
            self.failed.set()
            raise QueueUnavailableError("down")
        self.sent.setdefault(queue, []).append(QueueMessage.decode(message.encode()))
        return await super().publish(queue, message, dedupe_scope=dedupe_scope, force=force)

    async def publish_batch(
        self, queue: str, messages: Sequence[QueueMessage], *, dedupe_scope: str | None = None
    ) -> list[PublishStatus]:
        if self.failures:
            self.failures -= 1
            self.failed.set()
            raise QueueUnavailableError("down")
        self.sent.setdefault(queue, []).extend(QueueMessage.decode(message.encode()) for message in messages)
        return await super().publish_batch(queue, messages, dedupe_scope=dedupe_scope)


@contextlib.asynccontextmanager
async def _flaky(failures: int) -> AsyncIterator[Flaky]:
    queue = Flaky(failures)
    await queue.connect()
    try:
        yield queue
    finally:
        await queue.close()


@pytest.fixture
async def provider() -> AsyncIterator[Flaky]:
    async with _flaky(0) as queue:
        yield queue


def _publisher(
    provider: MemoryQueueProvider,
    *,
    outbound: Sequence[tuple[str, ConditionConfig | None]] = (("next", None),),
    budget: FanoutBudget | None = None,
    cancelling: asyncio.Event | None = None,
) -> OutboundPublisher:
    cancellation = Cancellation(cancelling or asyncio.Event())
    return OutboundPublisher(
        route_id="r",
        execution_id=EXEC,
        queue=ExecutionScopedQueue(provider, EXEC, accountant=CompletionAccountant({"next"})),
        outbound=outbound,
        dead_letter_queue="dlq.r",
        consumed_queues={"next": "next-route"},
        budget=budget or FanoutBudget(10),
        cancellation=cancellation,
        retry=PublishRetry(initial_seconds=0.001, max_seconds=0.002, cancellation=cancellation),
    )


def _delivery(**metadata: Any) -> Delivery:
    message = QueueMessage(id=MESSAGE_ID, payload={}, metadata={"hop_count": 2, **metadata})
    return Delivery(message, 1, 2, metadata.get("trace_id"), metadata.get("replay_batch_id"), False, None)


async def _read(provider: Flaky, queue: str) -> list[QueueMessage]:
    return provider.sent.get(f"factflow:{{{EXEC}}}:{queue}", [])


async def test_outputs_go_to_every_queue_whose_condition_holds(provider: Flaky) -> None:
    high = ConditionConfig.model_validate({"field": "n", "operator": "gt", "value": 5})
    publisher = _publisher(provider, outbound=[("next", None), ("high", high)])
    branch = Branch(MESSAGE_ID, "parent", {}, 0, {"carried": 1})
    await publisher.publish_outputs(_delivery(trace_id="t"), branch, {"n": 1})
    (sent,) = await _read(provider, "next")
    assert await _read(provider, "high") == []
    assert (sent.id, sent.parent_id, sent.execution_id, sent.route_id) == (MESSAGE_ID, "parent", EXEC, "next-route")
    assert sent.payload == {"n": 1}
    assert sent.wire_metadata() == {"carried": 1, "hop_count": 3, "trace_id": "t"}


async def test_a_publish_is_retried_while_the_queue_is_down() -> None:
    async with _flaky(2) as provider:
        budget = FanoutBudget(10)
        publisher = _publisher(provider, budget=budget)
        await publisher.publish_outputs(_delivery(), Branch(MESSAGE_ID, None, {}, 0, {}), {"n": 1})
        assert len(await _read(provider, "next")) == 1
        assert provider.failures == 0
        assert budget.in_use == 0  # the unit taken for the publish is back


async def test_the_retry_ends_with_stopped_when_the_execution_stops() -> None:
    async with _flaky(1_000_000) as provider:
        cancelling = asyncio.Event()
        budget = FanoutBudget(10)
        publisher = _publisher(provider, budget=budget, cancelling=cancelling)
        task = asyncio.create_task(
            publisher.publish_outputs(_delivery(), Branch(MESSAGE_ID, None, {}, 0, {}), {"n": 1})
        )
        for _ in range(3):  # retried twice at least
            await provider.failed.wait()
            provider.failed.clear()
        cancelling.set()
        with pytest.raises(Stopped):
            await task
        assert budget.in_use == 0


async def test_children_are_published_in_batches_each_holding_a_unit(provider: Flaky) -> None:
    budget = FanoutBudget(1000)
    publisher = _publisher(provider, budget=budget)
    children = [(f"0190a000-0000-7000-8000-{index:012x}", {"i": index}) for index in range(600)]
    await publisher.publish_children(_delivery(), Branch(MESSAGE_ID, None, {}, 0, {}), children, {"m": 1})
    sent = await _read(provider, "next")
    assert [message.payload["i"] for message in sent] == list(range(600))
    assert {message.parent_id for message in sent} == {MESSAGE_ID}
    assert sent[0].wire_metadata() == {"m": 1, "hop_count": 3}
    assert budget.in_use == 0


async def test_a_dead_letter_carries_the_input_and_its_record(provider: Flaky) -> None:
    publisher = _publisher(provider)
    branch = Branch(MESSAGE_ID, "parent", {"in": 1}, 0, {"carried": 1})
    record = {"reason": "non_retryable", "attempts": 1}
    await publisher.publish_dead_letter(_delivery(replay_batch_id="b"), branch, {"in": 1}, record)
    (sent,) = await _read(provider, "dlq.r")
    assert sent.route_id == "r" and sent.payload == {"in": 1}
    assert sent.wire_metadata() == {"carried": 1, "hop_count": 2, "replay_batch_id": "b", "dead_letter": record}
