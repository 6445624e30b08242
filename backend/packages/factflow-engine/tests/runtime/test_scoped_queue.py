from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from factflow_engine.runtime import CompletionAccountant, ExecutionScopedQueue, scoped_queue_name
from factflow_infra.queue import MemoryQueueProvider
from factflow_protocols import MessageStatus, PublishStatus, QueueMessage

EXEC = "0190a000-0000-7000-8000-000000000001"
OTHER = "0190a000-0000-7000-8000-000000000002"


@pytest.fixture
async def provider() -> AsyncIterator[MemoryQueueProvider]:
    async with MemoryQueueProvider(redelivery_delay_seconds=0.05) as queue:
        yield queue


def test_scoped_names_are_normalised_and_braced() -> None:
    assert scoped_queue_name(EXEC, "/queue/site.scrape") == f"factflow:{{{EXEC}}}:site.scrape"
    assert scoped_queue_name(EXEC, "site.scrape") == f"factflow:{{{EXEC}}}:site.scrape"


async def test_publish_stamps_execution_dedupes_and_counts_consumed_queues(provider: MemoryQueueProvider) -> None:
    accountant = CompletionAccountant({"work"}, tolerated_failures=2)
    queue = ExecutionScopedQueue(provider, EXEC, accountant=accountant)
    message = QueueMessage(payload={"n": 1})

    assert await queue.publish("/queue/work", message) is PublishStatus.PUBLISHED
    assert await queue.publish("work", message) is PublishStatus.DUPLICATE
    assert await queue.publish("nobody.reads", QueueMessage(payload={})) is PublishStatus.PUBLISHED
    statuses = await queue.publish_batch("work", [message, QueueMessage(payload={"n": 2})])
    assert statuses == [PublishStatus.DUPLICATE, PublishStatus.PUBLISHED]

    # Only first-time publishes to consumed queues count; duplicates are taken back.
    assert accountant.counts().as_dict() == {
        "published": 2,
        "handled": 0,
        "in_flight": 2,
        "dead_lettered": 0,
        "tolerated_failures": 2,
    }
    assert (await provider.depth(queue.scoped("work"), "g")).ready == 2
    # Another execution's scope is separate: the same id is new there.
    other = ExecutionScopedQueue(provider, OTHER)
    assert await other.publish("work", message) is PublishStatus.PUBLISHED

    received: list[QueueMessage] = []
    done = asyncio.Event()

    async def handler(delivered: QueueMessage) -> MessageStatus:
        received.append(delivered)
        if len(received) == 2:
            done.set()
        return MessageStatus.ACK

    subscription = await queue.subscribe("work", "g", handler, prefetch=5, dead_letter_queue="dlq.work")
    async with asyncio.timeout(2):
        await done.wait()
    await subscription.stop(1)
    assert {item.execution_id for item in received} == {EXEC}
    assert message.execution_id is None  # the caller's envelope is not changed


async def test_cleanup_purges_only_this_execution(provider: MemoryQueueProvider) -> None:
    mine = ExecutionScopedQueue(provider, EXEC)
    theirs = ExecutionScopedQueue(provider, OTHER)
    await mine.publish("a", QueueMessage(payload={}))
    await mine.publish("dlq.a", QueueMessage(payload={}))
    await theirs.publish("a", QueueMessage(payload={}))
    assert await mine.delete_queues(["a"]) == 1
    assert (await provider.depth(mine.scoped("dlq.a"), "g")).ready == 1
    assert await mine.cleanup() >= 1
    assert (await provider.depth(mine.scoped("dlq.a"), "g")).ready == 0
    assert (await provider.depth(theirs.scoped("a"), "g")).ready == 1


async def test_accountant_counts_dead_lettered_ids_once_and_wakes_waiters() -> None:
    accountant = CompletionAccountant({"q"}, tolerated_failures=0)
    waiter = asyncio.create_task(accountant.wait_changed(5))
    await asyncio.sleep(0)
    accountant.begin_publish("q")
    async with asyncio.timeout(1):
        await waiter
    assert accountant.dead_lettered("m1")
    assert not accountant.dead_lettered("m1")
    accountant.record_failures(2)
    accountant.delivery_handled()
    assert accountant.counts().dead_lettered == 3
    assert accountant.in_flight == 0
    accountant.resync(4)
    assert (accountant.published, accountant.handled, accountant.in_flight) == (5, 1, 4)


def test_accountant_counts_each_message_once_per_queue() -> None:
    accountant = CompletionAccountant({"q"})
    counted = accountant.begin_publish("q", 3)
    assert accountant.publishing == 3
    accountant.end_publish("q", counted, [("a", PublishStatus.PUBLISHED), ("b", PublishStatus.DUPLICATE), ("c", None)])
    assert (accountant.published, accountant.publishing) == (1, 0)
    # The same message again (re-injected after lost state): not a new publish.
    accountant.end_publish("q", accountant.begin_publish("q"), [("a", PublishStatus.PUBLISHED)])
    assert accountant.published == 1

    accountant.settle_begin()
    accountant.settle_begin()
    assert accountant.settling == 2
    accountant.settle_end("q", "a")
    accountant.settle_end("q", "a")  # a repeated delivery of the same message

    assert accountant.quiet
    counts = accountant.counts()
    assert (counts.published, counts.handled, counts.in_flight, counts.deduplicated) == (1, 1, 0, 1)


def test_accountant_fingerprint_changes_with_every_transition() -> None:
    accountant = CompletionAccountant({"q"})
    before = accountant.transitions()
    counted = accountant.begin_publish("q")
    assert accountant.transitions() != before
    middle = accountant.transitions()
    accountant.end_publish("q", counted, [("m", PublishStatus.PUBLISHED)])
    assert accountant.transitions() != middle
    assert accountant.begin_publish("not-consumed") == 0


def test_dead_letters_found_at_recovery_count_once_the_queue_counts_every_dlq_entry() -> None:
    accountant = CompletionAccountant({"q"})
    accountant.record_found_dead_letters(2)  # left in the DLQ by the process that died
    assert accountant.dead_lettered("m3")
    assert accountant.counts().dead_lettered == 3
    # Shared counts: the queue's reading of the DLQs holds those two and this process's one.
    accountant.adopt(published=5, handled=5, dead_lettered=3)
    assert accountant.counts().dead_lettered == 3
    accountant.record_failures(1)  # unrecoverable: in no queue
    assert accountant.counts().dead_lettered == 4
