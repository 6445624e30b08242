"""Redis Streams specifics: key layout, dead consumers, reclaim, lease, connection loss, lost state."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from factflow_infra.queue import RedisStreamsQueueProvider
from factflow_infra.queue._redis_batch import pack_commands
from factflow_infra.queue._redis_support import glob_escape, mask_url
from factflow_infra.testing import _queue as queue_fixtures
from factflow_infra.testing._queue import (
    QueueProviderFactory,
    RecordingHandler,
    scoped_queue,
    tcp_proxy,
    wait_until,
)
from factflow_protocols import (
    DeliveryHold,
    MessageStatus,
    PublishStatus,
    QueueDepth,
    QueueError,
    QueueMessage,
    QueueUnavailableError,
    current_delivery_hold,
)

# Fixtures, found by name (a conftest here would clash with tests/conftest.py under mypy).
queue_scope = queue_fixtures.queue_scope
redis_db = queue_fixtures.redis_db
redis_url = queue_fixtures.redis_url

pytestmark = pytest.mark.redis

GROUP = "workers"


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


def names(scope: str) -> tuple[str, str]:
    return scoped_queue(scope, "work"), scoped_queue(scope, "dlq.work")


async def redis_provider(providers: QueueProviderFactory, **options: object) -> RedisStreamsQueueProvider:
    provider = await providers(**options)
    assert isinstance(provider, RedisStreamsQueueProvider)
    return provider


class Gate:
    """A handler answer that waits for `open` and counts who is waiting."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, _: QueueMessage) -> MessageStatus:
        self.started.set()
        await self.opened.wait()
        return MessageStatus.ACK


async def test_keys_fields_groups_and_consumer_names_follow_the_spec(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    provider = await redis_provider(providers)
    queue, dlq = names(queue_scope)
    sent = QueueMessage(payload={"a": 1})

    await provider.publish(queue, sent, dedupe_scope=queue_scope)
    handler = RecordingHandler(lambda m: MessageStatus.RETRY)
    await provider.subscribe(queue, GROUP, handler, prefetch=1, dead_letter_queue=dlq)
    await handler.wait_for(1)

    entries: Any = await raw.xrange(queue)
    ((_, fields),) = entries
    assert set(fields) == {b"mid", b"env"}
    assert fields[b"mid"] == sent.id.encode()
    assert QueueMessage.decode(fields[b"env"]) == sent
    assert list(await raw.hkeys(f"factflow:{{{queue_scope}}}:_dedupe")) == [f"work|{sent.id}".encode()]
    (group,) = await raw.xinfo_groups(queue)
    assert group["name"] == GROUP.encode()
    (consumer,) = await raw.xinfo_consumers(queue, GROUP)
    host, pid, boot = consumer["name"].decode().split(":")
    assert consumer["name"].decode() == provider.consumer_name
    assert (int(pid), boot) == (os.getpid(), provider.boot_id)
    assert host
    client_names = {row["name"] for row in await raw.client_list()}
    assert f"factflow:{provider.consumer_name}" in client_names


async def test_a_killed_consumer_is_replaced_and_its_message_claimed_at_once(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    gate = Gate()
    crashed = await redis_provider(providers, visibility_timeout_seconds=60)
    sent = QueueMessage(payload={"x": 1})
    await crashed.publish(queue, sent)
    await crashed.subscribe(queue, GROUP, RecordingHandler(gate), prefetch=5, dead_letter_queue=dlq)
    async with asyncio.timeout(5):
        await gate.started.wait()
    await crashed.close()  # mid-message, never acked: what a crash leaves behind

    successor = await redis_provider(providers, visibility_timeout_seconds=60)
    handler = RecordingHandler()
    started = time.monotonic()
    subscription = await successor.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
    (redelivered,) = await handler.wait_for(1)

    assert time.monotonic() - started < 5  # claimed at subscribe, not after the 60 s timeout
    assert (redelivered.id, redelivered.delivery_count) == (sent.id, 2)
    await wait_until(lambda: subscription.outstanding() == 0)
    assert await successor.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)
    consumers = [row["name"].decode() for row in await raw.xinfo_consumers(queue, GROUP)]
    assert consumers == [successor.consumer_name]


async def test_entries_idle_past_the_visibility_timeout_are_reclaimed(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    provider = await redis_provider(providers, visibility_timeout_seconds=1.0)
    filler, orphan = QueueMessage(payload={"n": 0}), QueueMessage(payload={"n": 1})
    gate = Gate()

    async def respond(message: QueueMessage) -> MessageStatus:
        return await gate(message) if message.id == filler.id else MessageStatus.ACK

    handler = RecordingHandler(respond)
    await provider.publish(queue, filler)
    await provider.subscribe(queue, GROUP, handler, prefetch=1, dead_letter_queue=dlq)
    async with asyncio.timeout(5):
        await gate.started.wait()  # prefetch is full: the provider reads nothing more
    await provider.publish(queue, orphan)
    # Another consumer that joined after our subscribe reads the entry, then dies without a lease.
    reply: Any = await raw.xreadgroup(GROUP, "ghost", {queue: ">"}, count=1)
    assert reply[0][1][0][1][b"mid"] == orphan.id.encode()
    taken_at = time.monotonic()
    gate.opened.set()

    _, redelivered = await handler.wait_for(2, within=5)

    assert (redelivered.id, redelivered.delivery_count) == (orphan.id, 2)
    assert time.monotonic() - taken_at >= 0.9  # not before the visibility timeout
    await wait_until(lambda: handler.running == 0)
    await wait_until(lambda: _is_settled(provider, queue))


async def test_entries_whose_read_reply_was_lost_are_handed_over_without_waiting_for_the_reclaim(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    provider = await redis_provider(providers, visibility_timeout_seconds=300)
    filler, lost = QueueMessage(payload={"n": 0}), QueueMessage(payload={"n": 1})
    gate = Gate()

    async def respond(message: QueueMessage) -> MessageStatus:
        return await gate(message) if message.id == filler.id else MessageStatus.ACK

    handler = RecordingHandler(respond)
    await provider.publish(queue, filler)
    subscription = await provider.subscribe(queue, GROUP, handler, prefetch=1, dead_letter_queue=dlq)
    async with asyncio.timeout(5):
        await gate.started.wait()  # prefetch is full: the provider reads nothing more
    await provider.publish(queue, lost)
    # Redis hands the entry to our consumer, as when the connection breaks before the reply arrives.
    reply: Any = await raw.xreadgroup(GROUP, provider.consumer_name, {queue: ">"}, count=1)
    assert reply[0][1][0][1][b"mid"] == lost.id.encode()
    gate.opened.set()

    _, recovered = await handler.wait_for(2, within=15)  # far below the 300 s visibility timeout

    assert (recovered.id, recovered.delivery_count) == (lost.id, 1)
    await wait_until(lambda: subscription.outstanding() == 0)
    await wait_until(lambda: _is_settled(provider, queue))
    assert len(handler.deliveries) == 2


async def test_a_retried_publish_whose_first_attempt_landed_counts_as_published(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, _ = names(queue_scope)
    provider = await redis_provider(providers)
    script = provider._publish_script
    assert script is not None
    message = QueueMessage(payload={})
    keys = [queue, f"factflow:{{{queue_scope}}}:_dedupe"]
    first = [message.id, message.encode(), f"work|{message.id}", "0", "call-1"]

    # The same call sent again after its reply was lost: it landed, it is not a duplicate.
    assert await provider._run_script(script, keys, first) is not None
    assert await provider._run_script(script, keys, first) == b"landed"
    # Another publish of the same id is a duplicate.
    assert await provider._run_script(script, keys, [*first[:4], "call-2"]) is None
    assert await provider.publish(queue, message, dedupe_scope=queue_scope) == PublishStatus.DUPLICATE

    assert await raw.xlen(queue) == 1


async def test_an_ack_of_an_entry_settled_elsewhere_is_not_acknowledged(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    provider = await redis_provider(providers)
    gate = Gate()
    reports: list[bool] = []
    await provider.subscribe(
        queue,
        GROUP,
        RecordingHandler(gate),
        prefetch=1,
        dead_letter_queue=dlq,
        on_settled=lambda _message, _status, acknowledged: reports.append(acknowledged),
    )
    await provider.publish(queue, QueueMessage(payload={}))
    async with asyncio.timeout(5):
        await gate.started.wait()
    rows: Any = await raw.xpending_range(queue, GROUP, min="-", max="+", count=1)
    await raw.xack(queue, GROUP, rows[0]["message_id"])  # settled by another delivery of the same entry
    gate.opened.set()

    await wait_until(lambda: reports == [False], what="the settlement reported as not acknowledged")


async def test_a_repeated_dead_letter_move_writes_one_dead_letter_entry(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    provider = await redis_provider(providers)
    await provider.publish(queue, QueueMessage(payload={}))
    await raw.xgroup_create(queue, GROUP, id="0")
    reply: Any = await raw.xreadgroup(GROUP, "c", {queue: ">"}, count=1)
    entry_id = reply[0][1][0][0]
    script = provider._dead_letter
    args = [GROUP, entry_id, "mid", "m", "env", b"x"]

    # A retry after a lost reply sends the same move again: it must not write a second entry.
    assert await provider._run_script(script, [queue, dlq], args) == 1
    assert await provider._run_script(script, [queue, dlq], args) == 0

    assert await raw.xlen(dlq) == 1
    assert await provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)


async def _is_settled(provider: RedisStreamsQueueProvider, queue: str) -> bool:
    return await provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)


async def test_the_lease_keeps_long_handlers_from_being_reclaimed(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    # Several entries at once: one renewal covers every entry held, not only the first one.
    queue, dlq = names(queue_scope)
    visibility = 0.6
    provider = await redis_provider(providers, visibility_timeout_seconds=visibility)
    gate = Gate()
    handler = RecordingHandler(gate)
    for n in range(3):
        await provider.publish(queue, QueueMessage(payload={"n": n}))
    await provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
    await handler.wait_for(3)

    observed_until = time.monotonic() + 3 * visibility
    while time.monotonic() < observed_until:
        rows: Any = await raw.xpending_range(queue, GROUP, min="-", max="+", count=10)
        assert len(rows) == 3
        for row in rows:
            assert row["time_since_delivered"] < visibility * 1000
            assert row["times_delivered"] == 1
        await asyncio.sleep(0.05)

    assert len(handler.deliveries) == 3
    gate.opened.set()
    await wait_until(lambda: _is_settled(provider, queue))
    assert len(handler.deliveries) == 3


async def test_the_lease_does_not_take_back_an_entry_another_consumer_claimed(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    # A consumer cut off from Redis past its lease finds, once back, that another one claimed its
    # entry; renewing the lease must not move the entry back while the other one runs it.
    queue, dlq = names(queue_scope)
    visibility = 0.6
    provider = await redis_provider(providers, visibility_timeout_seconds=visibility)
    gate = Gate()
    await provider.publish(queue, QueueMessage(payload={}))
    await provider.subscribe(queue, GROUP, RecordingHandler(gate), prefetch=5, dead_letter_queue=dlq)
    async with asyncio.timeout(5):
        await gate.started.wait()
    (row,) = await raw.xpending_range(queue, GROUP, min="-", max="+", count=10)
    assert row["consumer"] == provider.consumer_name.encode()
    await raw.xclaim(queue, GROUP, "claimer", 0, [row["message_id"]], justid=True)

    observed_until = time.monotonic() + 3 * visibility  # several lease periods
    while time.monotonic() < observed_until:
        (row,) = await raw.xpending_range(queue, GROUP, min="-", max="+", count=10)
        assert row["consumer"] == b"claimer"
        # The claimer is alive and renews its own lease, so the reclaim of idle entries leaves it be.
        await raw.xclaim(queue, GROUP, "claimer", 0, [row["message_id"]], justid=True)
        await asyncio.sleep(0.05)

    gate.opened.set()  # the handler still finishes; its ack settles the entry
    await wait_until(lambda: _is_settled(provider, queue))


class HoldingHandler:
    """Keeps every delivery (and its hold) until `release` is set."""

    def __init__(self) -> None:
        self.holds: dict[int, DeliveryHold] = {}
        self.release = asyncio.Event()

    async def __call__(self, message: QueueMessage) -> MessageStatus:
        hold = current_delivery_hold()
        assert hold is not None
        self.holds[message.payload["n"]] = hold
        await self.release.wait()
        return MessageStatus.ACK


async def test_an_entry_another_consumer_claimed_or_settled_is_no_longer_held(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    visibility = 60.0  # no lapse during the test: only the claim and the ack below take entries away
    provider = await redis_provider(providers, visibility_timeout_seconds=visibility)
    handler = HoldingHandler()
    for n in range(3):
        await provider.publish(queue, QueueMessage(payload={"n": n}))
    await provider.subscribe(queue, GROUP, RecordingHandler(handler), prefetch=5, dead_letter_queue=dlq)
    await wait_until(lambda: len(handler.holds) == 3)
    rows: Any = await raw.xpending_range(queue, GROUP, min="-", max="+", count=10)
    entry_ids = [row["message_id"] for row in rows]
    assert all(hold.surely_held() for hold in handler.holds.values())  # just read: no call needed

    # Entry 0 claimed by another consumer, entry 1 settled by one; entry 2 stays ours.
    await raw.xclaim(queue, GROUP, "claimer", 0, [entry_ids[0]], justid=True)
    await raw.xack(queue, GROUP, entry_ids[1])
    assert await handler.holds[0].confirm_held() is False
    assert await handler.holds[1].confirm_held() is False
    assert await handler.holds[2].confirm_held() is True
    assert handler.holds[0].surely_held() is False  # known lost: never asked again
    (row,) = await raw.xpending_range(queue, GROUP, min=entry_ids[0], max=entry_ids[0], count=1)
    assert row["consumer"] == b"claimer"  # asking never takes an entry back
    (row,) = await raw.xpending_range(queue, GROUP, min=entry_ids[2], max=entry_ids[2], count=1)
    assert row["consumer"] == provider.consumer_name.encode() and row["times_delivered"] == 1
    handler.release.set()


async def test_a_lease_not_renewed_for_two_thirds_of_the_timeout_is_confirmed_with_redis(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    visibility = 0.6
    provider = await redis_provider(providers, visibility_timeout_seconds=visibility)
    handler = HoldingHandler()
    await provider.publish(queue, QueueMessage(payload={"n": 0}))
    subscription = await provider.subscribe(queue, GROUP, RecordingHandler(handler), prefetch=5, dead_letter_queue=dlq)
    await wait_until(lambda: len(handler.holds) == 1)
    hold = handler.holds[0]
    await subscription.stop(grace_seconds=0)  # no more renewals: the lease ages
    await wait_until(lambda: not hold.surely_held(), within=2 * visibility + 5)
    assert await hold.confirm_held() is True  # nobody took it: still pending for us
    (row,) = await raw.xpending_range(queue, GROUP, min="-", max="+", count=10)
    assert row["consumer"] == provider.consumer_name.encode() and row["times_delivered"] == 1


async def test_killed_connections_are_replaced_without_losing_messages(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    provider = await redis_provider(providers)
    handler = RecordingHandler()
    subscription = await provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
    await provider.publish(queue, QueueMessage(payload={"n": 0}))
    await handler.wait_for(1)

    ours = [row["id"] for row in await raw.client_list() if row["name"] == f"factflow:{provider.consumer_name}"]
    assert ours
    for client_id in ours:
        await raw.client_kill_filter(_id=client_id)
    sent = [QueueMessage(payload={"n": n}) for n in range(1, 4)]
    for message in sent:
        assert await provider.publish(queue, message, dedupe_scope=queue_scope) == PublishStatus.PUBLISHED

    received = await handler.wait_for(4, within=10)
    await wait_until(lambda: subscription.outstanding() == 0)
    assert {m.id for m in received[1:]} == {m.id for m in sent}
    assert await provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)
    assert (await provider.health()).health_state == "healthy"


async def test_an_outage_holds_publishes_and_acks_then_loses_nothing(
    redis_url: str, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    async with tcp_proxy(redis_url) as proxy:
        provider = RedisStreamsQueueProvider(
            proxy.url(redis_url), visibility_timeout_seconds=30, operation_timeout_seconds=1.0
        )
        await provider.connect()
        try:
            slow, later = QueueMessage(payload={"slow": True}), QueueMessage(payload={"later": True})
            gate = Gate()

            async def respond(message: QueueMessage) -> MessageStatus:
                return await gate(message) if message.id == slow.id else MessageStatus.ACK

            handler = RecordingHandler(respond)
            await provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
            await provider.publish(queue, slow)
            async with asyncio.timeout(5):
                await gate.started.wait()

            await proxy.cut()
            down = await provider.health()
            assert (down.connected, down.health_state) == (False, "reconnecting")
            publishing = asyncio.create_task(provider.publish(queue, later, dedupe_scope=queue_scope))
            gate.opened.set()  # the ack now has to wait for Redis too
            done, _ = await asyncio.wait({publishing}, timeout=0.6)
            assert not done  # the publish waits, it does not fail
            assert provider.stats.consecutive_failures > 0
            await proxy.restore()

            assert await asyncio.wait_for(publishing, 10) == PublishStatus.PUBLISHED
            await handler.wait_for(2, within=10)
            await wait_until(lambda: _is_settled(provider, queue), within=10)
            assert [m.id for m in handler.deliveries] == [slow.id, later.id]  # the slow one was acked, not redelivered
            up = await provider.health()
            assert (up.connected, up.health_state) == (True, "healthy")
            assert up.details["reconnect_attempts"] == 0
            assert up.details["reconnects_total"] >= 1
        finally:
            await provider.close()
    assert await raw.xlen(queue) == 2


async def test_an_unreachable_server_raises_queue_errors(redis_url: str, queue_scope: str) -> None:
    queue, _ = names(queue_scope)
    async with tcp_proxy(redis_url) as proxy:
        url = proxy.url(redis_url)
        provider = RedisStreamsQueueProvider(url, operation_timeout_seconds=1.0, publish_timeout_seconds=0.7)
        await provider.connect()
        try:
            await proxy.cut()
            started = time.monotonic()
            with pytest.raises(QueueUnavailableError) as raised:
                await provider.publish(queue, QueueMessage(payload={}))
            assert time.monotonic() - started < 3
            assert isinstance(raised.value.__cause__, (RedisError, OSError))
            assert raised.value.code == "queue_unavailable"
            with pytest.raises(QueueUnavailableError):
                await provider.depth(queue, GROUP)
        finally:
            await provider.close()
        with pytest.raises(QueueUnavailableError):
            await RedisStreamsQueueProvider(url, operation_timeout_seconds=1.0).connect()


async def test_an_outer_timeout_bounds_a_waiting_publish(redis_url: str, queue_scope: str) -> None:
    queue, _ = names(queue_scope)
    async with tcp_proxy(redis_url) as proxy:
        provider = RedisStreamsQueueProvider(proxy.url(redis_url), operation_timeout_seconds=1.0)
        await provider.connect()
        try:
            await proxy.cut()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.8):
                    await provider.publish(queue, QueueMessage(payload={}))
        finally:
            await provider.close()


async def test_lost_state_recreates_the_group_and_calls_the_hook(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    provider = await redis_provider(providers)
    lost: list[tuple[str, str]] = []
    lost_event = asyncio.Event()

    async def on_lost_state(lost_queue: str, subscription: str) -> None:
        lost.append((lost_queue, subscription))
        lost_event.set()

    handler = RecordingHandler()
    await provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq, on_lost_state=on_lost_state)
    await provider.publish(queue, QueueMessage(payload={"n": 0}))
    await handler.wait_for(1)

    await raw.flushdb()  # a Redis restart without persistence
    async with asyncio.timeout(5):
        await lost_event.wait()

    assert lost == [(queue, GROUP)]
    after = QueueMessage(payload={"n": 1})
    await provider.publish(queue, after)
    received = await handler.wait_for(2)
    assert received[1].id == after.id
    assert [row["name"] for row in await raw.xinfo_groups(queue)] == [GROUP.encode()]


@pytest.mark.parametrize("how", ["purge_prefix", "delete_queues"])
async def test_purging_its_own_queue_is_not_lost_state(
    providers: QueueProviderFactory, queue_scope: str, how: str
) -> None:
    queue, dlq = names(queue_scope)
    provider = await redis_provider(providers)
    lost: list[tuple[str, str]] = []

    async def on_lost_state(lost_queue: str, subscription: str) -> None:
        lost.append((lost_queue, subscription))

    handler = RecordingHandler()
    await provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq, on_lost_state=on_lost_state)
    await provider.publish(queue, QueueMessage(payload={"n": 0}))
    await handler.wait_for(1)

    if how == "purge_prefix":
        assert await provider.purge_prefix(f"factflow:{{{queue_scope}}}:") >= 1
    else:
        assert await provider.delete_queues([queue]) == 1
    await provider.publish(queue, QueueMessage(payload={"n": 1}))

    await handler.wait_for(2)  # only readable once the group was recreated
    assert lost == []


async def test_redis_errors_surface_as_queue_errors(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    queue, _ = names(queue_scope)
    provider = await redis_provider(providers)
    await raw.set(queue, b"not a stream")

    with pytest.raises(QueueError) as raised:
        await provider.publish(queue, QueueMessage(payload={}))
    assert not isinstance(raised.value, QueueUnavailableError)
    assert isinstance(raised.value.__cause__, RedisError)
    with pytest.raises(QueueError):
        await provider.depth(queue, GROUP)


async def test_a_burst_of_publishes_and_acks_shares_round_trips_without_backoff(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    # More concurrent publishes than pooled connections: they are pipelined together instead of
    # failing with "Too many connections" (which used to read as an outage and back off for seconds).
    provider = await redis_provider(providers)
    queue, dlq = names(queue_scope)
    sent = [QueueMessage(payload={"n": n}) for n in range(1000)]

    started = time.monotonic()
    statuses = await asyncio.gather(*(provider.publish(queue, message, dedupe_scope=queue_scope) for message in sent))
    assert statuses == [PublishStatus.PUBLISHED] * len(sent)
    handler = RecordingHandler(lambda m: MessageStatus.ACK)
    await provider.subscribe(queue, GROUP, handler, prefetch=500, dead_letter_queue=dlq)
    await handler.wait_for(len(sent))

    async def drained() -> bool:
        return (await provider.depth(queue, GROUP)) == QueueDepth(ready=0, pending=0)

    await wait_until(drained, what="every entry acked")
    assert time.monotonic() - started < 5.0
    assert provider.stats.consecutive_failures == 0
    assert provider.stats.reconnects_total == 0
    assert await raw.xlen(queue) == len(sent)


async def test_scripts_flushed_from_redis_are_loaded_again(
    providers: QueueProviderFactory, raw: Redis, queue_scope: str
) -> None:
    provider = await redis_provider(providers)
    queue, dlq = names(queue_scope)
    await provider.publish(queue, QueueMessage(payload={}), dedupe_scope=queue_scope)
    await raw.script_flush()

    assert await provider.publish(queue, QueueMessage(payload={}), dedupe_scope=queue_scope) is PublishStatus.PUBLISHED
    await raw.script_flush()
    handler = RecordingHandler(lambda m: MessageStatus.DEAD_LETTER)
    await provider.subscribe(queue, GROUP, handler, prefetch=10, dead_letter_queue=dlq)
    await handler.wait_for(2)

    async def moved() -> bool:
        return int(await raw.xlen(dlq)) == 2

    await wait_until(moved, what="both entries dead-lettered")
    assert await provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)


async def test_cancelling_a_task_in_the_middle_of_a_redis_call_always_ends_it(
    providers: QueueProviderFactory, queue_scope: str
) -> None:
    # A route's stop cancels its sampling and reading tasks wherever they are. A cancellation
    # swallowed inside a call (redis-py's socket timeouts use asyncio.wait_for, which on Python
    # 3.11 can lose one) left such a task running and hung the stop.
    provider = await redis_provider(providers)
    queue, _ = names(queue_scope)
    await provider._ensure_group(queue, GROUP)
    rng = random.Random(7)

    async def sample() -> None:
        while True:
            await provider.depth(queue, GROUP)

    async def publish() -> None:
        while True:
            await provider.publish(queue, QueueMessage(payload={}), dedupe_scope=queue_scope)

    for _ in range(150):
        tasks = [asyncio.create_task(work()) for work in (sample, sample, sample, publish, publish)]
        await asyncio.sleep(rng.random() * 0.005)
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=2.0)
        assert not pending, "a cancelled task kept running inside a Redis call"


async def test_purge_prefix_treats_glob_characters_literally(providers: QueueProviderFactory, raw: Redis) -> None:
    provider = await redis_provider(providers)
    await raw.xadd("factflow:{a*}:q", {"mid": b"1", "env": msgpack.packb({})})
    await raw.xadd("factflow:{ab}:q", {"mid": b"1", "env": msgpack.packb({})})

    assert await provider.purge_prefix("factflow:{a*}:") == 1

    assert await raw.exists("factflow:{ab}:q") == 1
    assert glob_escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\"


def test_urls_are_masked() -> None:
    assert mask_url("redis://:secret@host:6379/1") == "redis://:***@host:6379/1"
    assert mask_url("rediss://user:secret@host/0") == "rediss://user:***@host/0"
    assert mask_url("redis://host:6379/0") == "redis://host:6379/0"
    provider = RedisStreamsQueueProvider("redis://user:secret@host:6379/0")
    assert "secret" not in repr(provider)


def test_pack_commands_is_the_resp_encoding_of_each_command_in_order() -> None:
    packed = pack_commands([("XACK", "q", b"g", 7), ("PING",)])
    assert packed == b"*4\r\n$4\r\nXACK\r\n$1\r\nq\r\n$1\r\ng\r\n$1\r\n7\r\n*1\r\n$4\r\nPING\r\n"
    assert pack_commands([]) == b""
