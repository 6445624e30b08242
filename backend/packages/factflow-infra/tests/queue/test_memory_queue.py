"""Memory-queue specifics: the redelivery delay, bounded memory, purge under a running subscription."""

from __future__ import annotations

import time

from factflow_infra.queue import MemoryQueueProvider
from factflow_infra.testing import _queue as queue_fixtures
from factflow_infra.testing._queue import RecordingHandler, scoped_queue, wait_until
from factflow_protocols import MessageStatus, QueueDepth, QueueMessage

# Fixtures, found by name (a conftest here would clash with tests/conftest.py under mypy).
queue_scope = queue_fixtures.queue_scope

GROUP = "workers"


async def test_an_unacked_delivery_waits_out_the_redelivery_delay(queue_scope: str) -> None:
    queue, dlq = scoped_queue(queue_scope, "work"), scoped_queue(queue_scope, "dlq")
    ended: list[float] = []

    def respond(message: QueueMessage) -> MessageStatus:
        ended.append(time.monotonic())
        return MessageStatus.RETRY if message.delivery_count < 3 else MessageStatus.ACK

    async with MemoryQueueProvider(redelivery_delay_seconds=0.2) as provider:
        handler = RecordingHandler(respond)
        await provider.publish(queue, QueueMessage(payload={}))
        subscription = await provider.subscribe(queue, GROUP, handler, prefetch=1, dead_letter_queue=dlq)
        received = await handler.wait_for(3)
        await wait_until(lambda: subscription.outstanding() == 0)

        assert [m.delivery_count for m in received] == [1, 2, 3]
        assert all(later - earlier >= 0.19 for earlier, later in zip(ended, ended[1:], strict=False))
        assert await provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)


async def test_settled_entries_are_dropped(queue_scope: str) -> None:
    queue, dlq = scoped_queue(queue_scope, "work"), scoped_queue(queue_scope, "dlq")
    async with MemoryQueueProvider() as provider:
        handler = RecordingHandler(lambda m: MessageStatus.DEAD_LETTER if m.payload["n"] == 0 else MessageStatus.ACK)
        await provider.publish_batch(queue, [QueueMessage(payload={"n": n}) for n in range(50)])
        subscription = await provider.subscribe(queue, GROUP, handler, prefetch=10, dead_letter_queue=dlq)
        await handler.wait_for(50)
        await wait_until(lambda: subscription.outstanding() == 0)

        assert provider._streams[queue].entries == {}
        assert await provider.depth(dlq, "inspect") == QueueDepth(ready=1, pending=0)


async def test_a_running_subscription_survives_a_purge_of_its_queue(queue_scope: str) -> None:
    queue, dlq = scoped_queue(queue_scope, "work"), scoped_queue(queue_scope, "dlq")
    lost: list[tuple[str, str]] = []

    async def on_lost_state(lost_queue: str, subscription: str) -> None:
        lost.append((lost_queue, subscription))

    async with MemoryQueueProvider() as provider:
        handler = RecordingHandler()
        await provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq, on_lost_state=on_lost_state)
        await provider.publish(queue, QueueMessage(payload={"n": 0}))
        await handler.wait_for(1)

        assert await provider.purge_prefix(f"factflow:{{{queue_scope}}}:") == 1
        after = QueueMessage(payload={"n": 1})
        await provider.publish(queue, after)

        received = await handler.wait_for(2)
        assert (received[1].id, received[1].delivery_count) == (after.id, 1)
        assert lost == []
