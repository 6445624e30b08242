"""Redis Streams shared by several worker processes: live consumers keep their entries, and the
shared state of an execution is read in one atomic step."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from factflow_infra.queue import RedisSharedState, RedisStreamsQueueProvider
from factflow_infra.queue._redis_shared import STATE_LOST_CODE
from factflow_infra.testing import _queue as queue_fixtures
from factflow_infra.testing._queue import QueueProviderFactory, RecordingHandler, scoped_queue
from factflow_protocols import MessageStatus, QueueDepth, QueueError, QueueMessage

queue_scope = queue_fixtures.queue_scope
redis_db = queue_fixtures.redis_db
redis_url = queue_fixtures.redis_url

pytestmark = pytest.mark.redis

GROUP = "work"


@pytest.fixture
async def providers(redis_url: str) -> AsyncIterator[QueueProviderFactory]:
    factory = QueueProviderFactory("redis", redis_url)
    try:
        yield factory
    finally:
        await factory.aclose()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, protocol=2)
    try:
        yield client
    finally:
        await client.aclose()


async def redis_provider(providers: QueueProviderFactory, **options: object) -> RedisStreamsQueueProvider:
    provider = await providers(**options)
    assert isinstance(provider, RedisStreamsQueueProvider)
    return provider


class Holding:
    """A handler that never finishes until released: its deliveries stay pending."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, _: QueueMessage) -> MessageStatus:
        await self.release.wait()
        return MessageStatus.ACK


async def test_a_live_worker_keeps_its_pending_entries_when_another_joins_the_group(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = scoped_queue(queue_scope, "work"), scoped_queue(queue_scope, "dlq.work")
    first = await redis_provider(providers, visibility_timeout_seconds=60, consumer="worker-a")
    holding = Holding()
    held = RecordingHandler(holding)
    for n in range(3):
        await first.publish(queue, QueueMessage(payload={"n": n}))
    await first.subscribe(queue, GROUP, held, prefetch=3, dead_letter_queue=dlq)
    await held.wait_for(3)

    async def live() -> set[str]:
        return {"worker-a"}

    second = await redis_provider(providers, visibility_timeout_seconds=60, consumer="worker-b")
    second.set_live_consumers(live)
    newcomer = RecordingHandler(holding)
    await second.subscribe(queue, GROUP, newcomer, prefetch=3, dead_letter_queue=dlq)
    await first.publish(queue, QueueMessage(payload={"n": 3}))
    await newcomer.wait_for(1)  # it reads new entries, and has run its first reclaim pass

    async def pending_by_consumer() -> dict[str, int]:
        return {row["name"].decode(): int(row["pending"]) for row in await raw.xinfo_consumers(queue, GROUP)}

    assert await pending_by_consumer() == {"worker-a": 3, "worker-b": 1}
    holding.release.set()


async def test_a_consumer_the_registry_does_not_list_is_claimed_from_at_subscribe(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = scoped_queue(queue_scope, "work"), scoped_queue(queue_scope, "dlq.work")
    dead = await redis_provider(providers, visibility_timeout_seconds=60, consumer="worker-dead")
    await dead.publish(queue, QueueMessage(payload={"n": 1}))
    held = RecordingHandler(Holding())
    await dead.subscribe(queue, GROUP, held, prefetch=1, dead_letter_queue=dlq)
    await held.wait_for(1)
    await dead.close()  # a crash: the entry stays pending for `worker-dead`

    async def live() -> set[str]:
        return {"worker-b"}

    survivor = await redis_provider(providers, visibility_timeout_seconds=60, consumer="worker-b")
    survivor.set_live_consumers(live)
    handler = RecordingHandler()
    await survivor.subscribe(queue, GROUP, handler, prefetch=1, dead_letter_queue=dlq)
    (redelivered,) = await handler.wait_for(1)
    assert redelivered.delivery_count == 2
    names = [row["name"].decode() for row in await raw.xinfo_consumers(queue, GROUP)]
    assert names == ["worker-b"]


async def test_the_shared_state_counts_entries_settlements_and_dead_letters_atomically(
    providers: QueueProviderFactory, queue_scope: str
) -> None:
    provider = await redis_provider(providers)
    shared = RedisSharedState(provider)
    first, second = scoped_queue(queue_scope, "a"), scoped_queue(queue_scope, "b")
    dlq = scoped_queue(queue_scope, "dlq.a")
    for n in range(4):
        await provider.publish(first, QueueMessage(payload={"n": n}), dedupe_scope=queue_scope)
    # Before any consumer exists: every entry is ready.
    depths, dead = await shared.read([(first, "a"), (second, "b")], [dlq])
    assert depths == [QueueDepth(ready=4, pending=0), QueueDepth(ready=0, pending=0)]
    assert dead == 0

    answers = iter([MessageStatus.ACK, MessageStatus.DEAD_LETTER, MessageStatus.ACK])
    holding = Holding()

    async def handle(message: QueueMessage) -> MessageStatus:
        answer = next(answers, None)
        if answer is None:
            return await holding(message)
        return answer

    handler = RecordingHandler(handle)
    await provider.subscribe(first, "a", handler, prefetch=1, dead_letter_queue=dlq)
    await handler.wait_for(4)
    depths, dead = await shared.read([(first, "a"), (second, "b")], [dlq])
    # Three settled (one of them dead-lettered), one pending in the handler.
    assert depths[0] == QueueDepth(ready=0, pending=1, settled=3)
    assert dead == 1
    holding.release.set()


async def test_joined_workers_are_waited_for_until_they_flush(providers: QueueProviderFactory) -> None:
    provider = await redis_provider(providers)
    live_ids = {"w1", "w2"}

    async def live() -> set[str]:
        return set(live_ids)

    shared = RedisSharedState(provider, live_workers=live)
    execution_id = "exec-shared-1"
    assert not await shared.is_shared(execution_id)
    await shared.mark_shared(execution_id)
    assert await shared.is_shared(execution_id)
    await shared.joined(execution_id, "w1")
    await shared.joined(execution_id, "w2")
    await shared.joined(execution_id, "w3")  # joined, then died
    assert not await shared.flush_requested(execution_id)
    await shared.request_flush(execution_id)
    assert await shared.flush_requested(execution_id)
    await shared.flushed(execution_id, "w1")
    assert await shared.unflushed_workers(execution_id) == {"w2"}
    assert await shared.unflushed_workers(execution_id, live_only=False) == {"w2", "w3"}
    await provider.purge_prefix(f"factflow:{{{execution_id}}}:")


async def test_stage_reports_replace_each_process_s_last_and_add_up(providers: QueueProviderFactory) -> None:
    provider = await redis_provider(providers)
    shared = RedisSharedState(provider)
    execution_id = "exec-stages-1"
    assert await shared.reported_stages(execution_id) == (0, 0)
    await shared.report_stages(execution_id, "w1/a", completed=3, failed=0)
    await shared.report_stages(execution_id, "w2/b", completed=2, failed=1)
    await shared.report_stages(execution_id, "w1/a", completed=5, failed=1)  # absolute: replaces its last
    await shared.report_stages(execution_id, "w1/a", completed=5, failed=1)  # a repeat changes nothing
    assert await shared.reported_stages(execution_id) == (7, 2)
    await provider.purge_prefix(f"factflow:{{{execution_id}}}:")
    assert await shared.reported_stages(execution_id) == (0, 0)


async def test_a_reading_of_a_marked_execution_fails_once_its_mark_is_gone(
    providers: QueueProviderFactory, raw: Redis
) -> None:
    provider = await redis_provider(providers)
    shared = RedisSharedState(provider)
    execution_id = f"exec-mark-{uuid.uuid4().hex}"
    queue = scoped_queue(execution_id, "a")
    await shared.mark_shared(execution_id)
    await provider.publish(queue, QueueMessage(payload={"n": 1}), dedupe_scope=execution_id)
    depths, dead = await shared.read([(queue, "a")], [], marked=execution_id)
    assert (depths, dead) == ([QueueDepth(ready=1, pending=0)], 0)
    # What a Redis restart without persistence leaves: nothing under the execution's prefix.
    await provider.purge_prefix(f"factflow:{{{execution_id}}}:")
    with pytest.raises(QueueError) as lost:
        await shared.read([(queue, "a")], [], marked=execution_id)
    assert lost.value.code == STATE_LOST_CODE
    # Unmarked readings (and readings of a marked execution again) answer as before.
    assert await shared.read([(queue, "a")], []) == ([QueueDepth(ready=0, pending=0)], 0)
    await shared.mark_shared(execution_id)
    assert await shared.read([(queue, "a")], [], marked=execution_id) == ([QueueDepth(ready=0, pending=0)], 0)
    await provider.purge_prefix(f"factflow:{{{execution_id}}}:")
    assert not await raw.keys(f"factflow:{{{execution_id}}}:*")


async def test_workers_are_waited_for_until_they_settle_under_the_latest_request(
    providers: QueueProviderFactory,
) -> None:
    provider = await redis_provider(providers)
    live_ids = {"w1", "w2"}

    async def live() -> set[str]:
        return set(live_ids)

    shared = RedisSharedState(provider, live_workers=live)
    execution_id = f"exec-settle-{uuid.uuid4().hex}"
    assert await shared.settle_requested(execution_id) is None
    for worker_id in ("w1", "w2", "w3"):  # w3 joined, then died
        await shared.joined(execution_id, worker_id)
    await shared.request_settle(execution_id, "t1")
    assert await shared.settle_requested(execution_id) == "t1"
    await shared.settled(execution_id, "w1", "t1")
    assert await shared.unsettled_workers(execution_id, "t1") == {"w2"}
    await shared.settled(execution_id, "w2", "t1")
    assert await shared.unsettled_workers(execution_id, "t1") == set()
    # A new request (a second loss) waits for every worker again.
    await shared.request_settle(execution_id, "t2")
    assert await shared.settle_requested(execution_id) == "t2"
    await shared.settled(execution_id, "w2", "t1")  # a late answer to the old request
    assert await shared.unsettled_workers(execution_id, "t2") == {"w1", "w2"}
    await provider.purge_prefix(f"factflow:{{{execution_id}}}:")
