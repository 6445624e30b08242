"""The `QueueProtocol` contract, run against every provider (memory and Redis Streams)."""

from __future__ import annotations

import asyncio

import pytest

from factflow_foundation import new_id
from factflow_infra.testing import _queue as queue_fixtures
from factflow_infra.testing._queue import (
    QueueProvider,
    QueueProviderFactory,
    RecordingHandler,
    append_raw_entry,
    scoped_queue,
    wait_until,
)
from factflow_protocols import (
    MessageStatus,
    PublishStatus,
    QueueDepth,
    QueueError,
    QueueMessage,
    QueueProtocol,
    Subscription,
    delivery_still_held,
)

# Fixtures, found by name (a conftest here would clash with tests/conftest.py under mypy).
queue_provider_factory = queue_fixtures.queue_provider_factory
queue_provider = queue_fixtures.queue_provider
queue_scope = queue_fixtures.queue_scope
redis_db = queue_fixtures.redis_db
redis_url = queue_fixtures.redis_url

GROUP = "workers"


def names(scope: str, name: str = "work") -> tuple[str, str]:
    return scoped_queue(scope, name), scoped_queue(scope, f"dlq.{name}")


def message(n: int = 0, **metadata: object) -> QueueMessage:
    return QueueMessage(
        parent_id=new_id(),
        route_id="route-a",
        payload={"n": n, "text": "é", "nested": {"list": [1, 2.5, None]}},
        metadata=dict(metadata),
    )


async def read_dead_letters(provider: QueueProvider, dlq: str, count: int) -> list[QueueMessage]:
    inspector = RecordingHandler()
    await provider.subscribe(dlq, "inspect", inspector, prefetch=count, dead_letter_queue=f"{dlq}.x")
    return await inspector.wait_for(count)


async def settled(subscription: Subscription) -> None:
    await wait_until(lambda: subscription.outstanding() == 0, what="deliveries settled")


async def test_providers_satisfy_the_protocol(queue_provider: QueueProvider) -> None:
    provider: QueueProtocol = queue_provider
    assert provider is queue_provider


async def test_publish_subscribe_and_ack(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, dlq = names(queue_scope)
    sent = [message(n, hop_count=1, trace_id="t-1") for n in range(3)]
    for item in sent:
        assert await queue_provider.publish(queue, item) == PublishStatus.PUBLISHED
    handler = RecordingHandler()

    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=10, dead_letter_queue=dlq)
    received = await handler.wait_for(3)
    await settled(subscription)

    assert sorted(item.id for item in received) == sorted(item.id for item in sent)
    by_id = {item.id: item for item in received}
    for original in sent:
        got = by_id[original.id]
        assert got.payload == original.payload
        assert (got.parent_id, got.route_id, got.created_at) == (original.parent_id, "route-a", original.created_at)
        assert got.metadata == {}
        assert (got.control.hop_count, got.control.trace_id, got.control.delivery_count) == (1, "t-1", 1)
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)
    status = subscription.status()
    assert (status.queue, status.subscription, status.prefetch) == (queue, GROUP, 10)
    assert not status.paused and not status.stopped and status.outstanding == 0

    await subscription.stop()
    await subscription.stop()  # idempotent
    assert subscription.status().stopped


async def test_dedupe_inside_a_scope_and_force(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, _ = names(queue_scope)
    other_queue, _ = names(queue_scope, "other")
    item = message()

    assert await queue_provider.publish(queue, item, dedupe_scope=queue_scope) == PublishStatus.PUBLISHED
    assert await queue_provider.publish(queue, item, dedupe_scope=queue_scope) == PublishStatus.DUPLICATE
    assert await queue_provider.publish(other_queue, item, dedupe_scope=queue_scope) == PublishStatus.PUBLISHED
    assert await queue_provider.publish(queue, item, dedupe_scope=new_id()) == PublishStatus.PUBLISHED
    assert await queue_provider.publish(queue, item, dedupe_scope=queue_scope, force=True) == PublishStatus.PUBLISHED
    assert await queue_provider.publish(queue, item) == PublishStatus.PUBLISHED  # no scope: no check

    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=4, pending=0)
    assert await queue_provider.depth(other_queue, GROUP) == QueueDepth(ready=1, pending=0)


async def test_publish_batch_dedupes_and_delivers_in_order(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, dlq = names(queue_scope)
    first, second, third = message(1), message(2), message(3)
    await queue_provider.publish(queue, first, dedupe_scope=queue_scope)

    statuses = await queue_provider.publish_batch(queue, [first, second, third, second], dedupe_scope=queue_scope)

    assert statuses == [
        PublishStatus.DUPLICATE,
        PublishStatus.PUBLISHED,
        PublishStatus.PUBLISHED,
        PublishStatus.DUPLICATE,
    ]
    assert await queue_provider.publish_batch(queue, []) == []
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=3, pending=0)
    handler = RecordingHandler()
    await queue_provider.subscribe(queue, GROUP, handler, prefetch=1, dead_letter_queue=dlq)
    await handler.wait_for(3)
    assert handler.ids() == [first.id, second.id, third.id]


async def test_prefetch_bounds_outstanding_deliveries(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, dlq = names(queue_scope)
    gate = asyncio.Event()

    async def respond(_: QueueMessage) -> MessageStatus:
        await gate.wait()
        return MessageStatus.ACK

    handler = RecordingHandler(respond)
    await queue_provider.publish_batch(queue, [message(n) for n in range(5)])

    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=2, dead_letter_queue=dlq)
    await handler.wait_for(2)

    assert subscription.outstanding() == 2
    assert subscription.status().outstanding == 2
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=3, pending=2)
    gate.set()
    await handler.wait_for(5)
    await settled(subscription)
    assert handler.max_running == 2
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)


async def test_retry_is_redelivered_with_a_higher_delivery_count(
    queue_provider: QueueProvider, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    sent = message(7)
    handler = RecordingHandler(lambda m: MessageStatus.RETRY if m.delivery_count == 1 else MessageStatus.ACK)
    await queue_provider.publish(queue, sent)

    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
    first, second = await handler.wait_for(2, within=10)
    await settled(subscription)

    assert (first.id, second.id) == (sent.id, sent.id)
    assert (first.delivery_count, second.delivery_count) == (1, 2)
    assert second.payload == sent.payload
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)
    assert len(handler.deliveries) == 2


async def test_handler_exception_is_redelivered(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, dlq = names(queue_scope)

    def respond(m: QueueMessage) -> MessageStatus:
        if m.delivery_count == 1:
            raise RuntimeError("boom")
        return MessageStatus.ACK

    handler = RecordingHandler(respond)
    await queue_provider.publish(queue, message())

    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
    received = await handler.wait_for(2, within=10)
    await settled(subscription)

    assert [m.delivery_count for m in received] == [1, 2]
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)


async def test_dead_letter_moves_the_envelope_with_its_metadata(
    queue_provider: QueueProvider, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    record = {
        "reason": "max_deliveries_exceeded",
        "error_info": {"code": "x", "message": "too many"},
        "route_id": "route-a",
        "adapter_index": 0,
        "stage": "fetch",
        "attempts": 3,
        "failed_at": "2026-01-01T00:00:00.000000Z",
    }

    def respond(m: QueueMessage) -> MessageStatus:
        m.control.dead_letter = record
        return MessageStatus.DEAD_LETTER

    handler = RecordingHandler(respond)
    sent = message(hop_count=2, trace_id="trace")
    await queue_provider.publish(queue, sent)

    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
    await handler.wait_for(1)
    await settled(subscription)

    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)
    assert await queue_provider.depth(dlq, "inspect") == QueueDepth(ready=1, pending=0)
    inspector = RecordingHandler()
    await queue_provider.subscribe(
        dlq, "inspect", inspector, prefetch=1, dead_letter_queue=scoped_queue(queue_scope, "x")
    )
    (dead,) = await inspector.wait_for(1)
    assert (dead.id, dead.parent_id, dead.route_id, dead.payload) == (sent.id, sent.parent_id, "route-a", sent.payload)
    assert dead.control.dead_letter == record
    assert (dead.control.hop_count, dead.control.trace_id) == (2, "trace")
    assert len(handler.deliveries) == 1


async def test_dead_letter_without_a_record_gets_a_minimal_one(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, dlq = names(queue_scope)
    handler = RecordingHandler(lambda m: MessageStatus.DEAD_LETTER)
    sent = message()
    await queue_provider.publish(queue, sent)
    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=1, dead_letter_queue=dlq)
    await handler.wait_for(1)
    await settled(subscription)

    inspector = RecordingHandler()
    await queue_provider.subscribe(
        dlq, "inspect", inspector, prefetch=1, dead_letter_queue=scoped_queue(queue_scope, "x")
    )
    (dead,) = await inspector.wait_for(1)
    assert dead.id == sent.id
    assert (dead.control.dead_letter or {})["reason"] == "dead_lettered"
    assert (dead.control.dead_letter or {})["route_id"] == "route-a"
    assert (dead.control.dead_letter or {})["attempts"] == 1


async def test_undecodable_entries_are_dead_lettered_and_reported(
    queue_provider: QueueProvider, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    reported: list[tuple[QueueMessage | None, str]] = []
    reported_event = asyncio.Event()

    async def on_dead_letter(envelope: QueueMessage | None, reason: str) -> None:
        reported.append((envelope, reason))
        if len(reported) == 2:
            reported_event.set()

    await append_raw_entry(queue_provider, queue, {"mid": b"bad-1", "env": b"\xc1 not msgpack"})
    await append_raw_entry(queue_provider, queue, {"mid": b"bad-2"})
    good = message()
    await queue_provider.publish(queue, good)
    handler = RecordingHandler()

    subscription = await queue_provider.subscribe(
        queue, GROUP, handler, prefetch=10, dead_letter_queue=dlq, on_dead_letter=on_dead_letter
    )
    await handler.wait_for(1)
    async with asyncio.timeout(5):
        await reported_event.wait()
    await settled(subscription)

    assert handler.ids() == [good.id]
    assert sorted(reason for _, reason in reported) == ["undecodable", "undecodable"]
    envelopes = {envelope.id: envelope for envelope, _ in reported if envelope is not None}
    assert set(envelopes) == {"bad-1", "bad-2"}
    assert envelopes["bad-1"].execution_id == queue_scope
    assert (envelopes["bad-1"].control.dead_letter or {})["reason"] == "undecodable"
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)
    inspector = RecordingHandler()
    await queue_provider.subscribe(
        dlq, "inspect", inspector, prefetch=5, dead_letter_queue=scoped_queue(queue_scope, "x")
    )
    dead = await inspector.wait_for(2)
    assert {m.id for m in dead} == {"bad-1", "bad-2"}
    assert all((m.control.dead_letter or {})["reason"] == "undecodable" for m in dead)


async def test_pause_keeps_messages_and_resume_drains(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, dlq = names(queue_scope)
    handler = RecordingHandler()
    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=10, dead_letter_queue=dlq)
    subscription.pause()
    assert subscription.status().paused

    await queue_provider.publish_batch(queue, [message(n) for n in range(3)])

    with pytest.raises(TimeoutError):
        await handler.wait_for(1, within=0.5)
    depth = await queue_provider.depth(queue, GROUP)
    # Redis may hold entries a read in flight at pause time returned; they stay pending, unhandled.
    assert depth.total == 3
    subscription.resume()
    await handler.wait_for(3)
    await settled(subscription)
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)
    assert [m.delivery_count for m in handler.deliveries] == [1, 1, 1]


async def test_depth_counts_ready_and_pending(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, dlq = names(queue_scope)
    gate = asyncio.Event()

    async def respond(_: QueueMessage) -> MessageStatus:
        await gate.wait()
        return MessageStatus.ACK

    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)
    await queue_provider.publish_batch(queue, [message(n) for n in range(4)])
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=4, pending=0)
    handler = RecordingHandler(respond)

    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=1, dead_letter_queue=dlq)
    await handler.wait_for(1)

    depth = await queue_provider.depth(queue, GROUP)
    assert depth == QueueDepth(ready=3, pending=1)
    assert depth.total == 4
    gate.set()
    await handler.wait_for(4)
    await settled(subscription)
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)


async def test_purge_prefix_drops_queues_and_dedupe_sets_of_one_scope(
    queue_provider: QueueProvider, queue_scope: str
) -> None:
    other_scope = new_id()
    first, _ = names(queue_scope, "a")
    second, _ = names(queue_scope, "b")
    foreign, _ = names(other_scope, "a")
    item = message()
    for queue, scope in ((first, queue_scope), (second, queue_scope), (foreign, other_scope)):
        assert await queue_provider.publish(queue, item, dedupe_scope=scope) == PublishStatus.PUBLISHED

    purged = await queue_provider.purge_prefix(f"factflow:{{{queue_scope}}}:")

    assert purged == 3  # two streams and the dedupe set
    assert await queue_provider.depth(first, GROUP) == QueueDepth(ready=0, pending=0)
    assert await queue_provider.depth(second, GROUP) == QueueDepth(ready=0, pending=0)
    assert await queue_provider.depth(foreign, GROUP) == QueueDepth(ready=1, pending=0)
    assert await queue_provider.publish(first, item, dedupe_scope=queue_scope) == PublishStatus.PUBLISHED
    assert await queue_provider.publish(foreign, item, dedupe_scope=other_scope) == PublishStatus.DUPLICATE
    assert await queue_provider.purge_prefix(f"factflow:{{{new_id()}}}:") == 0


async def test_delete_queues_is_exact(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, _ = names(queue_scope, "site.embeddings")
    dlq, _ = names(queue_scope, "site.embeddings.dlq")
    item = message()
    await queue_provider.publish(queue, item, dedupe_scope=queue_scope)
    await queue_provider.publish(dlq, item)

    assert await queue_provider.delete_queues([queue, scoped_queue(queue_scope, "missing")]) == 1

    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)
    assert await queue_provider.depth(dlq, GROUP) == QueueDepth(ready=1, pending=0)
    assert await queue_provider.publish(queue, item, dedupe_scope=queue_scope) == PublishStatus.DUPLICATE


async def test_stop_leaves_unacked_pending_for_the_next_subscriber(
    queue_provider_factory: QueueProviderFactory, queue_scope: str
) -> None:
    provider = await queue_provider_factory()
    queue, dlq = names(queue_scope)
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def hang(_: QueueMessage) -> MessageStatus:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return MessageStatus.ACK

    sent = message()
    await provider.publish(queue, sent)
    subscription = await provider.subscribe(queue, GROUP, RecordingHandler(hang), prefetch=5, dead_letter_queue=dlq)
    async with asyncio.timeout(5):
        await started.wait()

    await subscription.stop(grace_seconds=0)

    assert cancelled.is_set()
    assert subscription.status().stopped and subscription.outstanding() == 0
    assert await provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=1)
    successor = await queue_provider_factory()  # Redis: a new instance (new boot id); memory: the same
    handler = RecordingHandler()
    next_subscription = await successor.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
    (redelivered,) = await handler.wait_for(1)
    await settled(next_subscription)
    assert (redelivered.id, redelivered.delivery_count) == (sent.id, 2)
    assert await successor.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)


async def test_stop_waits_for_running_handlers_within_the_grace(
    queue_provider: QueueProvider, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    release = asyncio.Event()

    async def respond(_: QueueMessage) -> MessageStatus:
        await release.wait()
        return MessageStatus.ACK

    handler = RecordingHandler(respond)
    await queue_provider.publish(queue, message())
    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
    await handler.wait_for(1)

    stopping = asyncio.create_task(subscription.stop(grace_seconds=10))
    done, _ = await asyncio.wait({stopping}, timeout=0.3)
    assert not done  # still draining the running handler
    release.set()
    await stopping

    assert subscription.status().stopped
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)


async def test_deliveries_run_up_to_prefetch_at_once_on_reused_workers(
    queue_provider: QueueProvider, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    all_running = asyncio.Event()
    workers: set[asyncio.Task[object] | None] = set()

    async def respond(m: QueueMessage) -> MessageStatus:
        workers.add(asyncio.current_task())
        if handler.running == 4:
            all_running.set()
        if m.payload["n"] < 4:  # the first four wait until four handlers run at once
            await all_running.wait()
        return MessageStatus.ACK

    handler = RecordingHandler(respond)
    await queue_provider.publish_batch(queue, [message(n) for n in range(40)])
    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=4, dead_letter_queue=dlq)
    await handler.wait_for(40, within=10)
    await settled(subscription)

    assert handler.max_running == 4
    # A worker handles delivery after delivery: never more of them than `prefetch`.
    assert 1 <= len(workers) <= 4
    assert await queue_provider.depth(queue, GROUP) == QueueDepth(ready=0, pending=0)
    await subscription.stop()
    assert subscription.status().stopped


async def test_close_never_acks(queue_provider_factory: QueueProviderFactory, queue_scope: str) -> None:
    provider = await queue_provider_factory()
    queue, dlq = names(queue_scope)
    release = asyncio.Event()

    async def respond(_: QueueMessage) -> MessageStatus:
        await release.wait()
        return MessageStatus.ACK

    handler = RecordingHandler(respond)
    await provider.publish(queue, message())
    subscription = await provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
    await handler.wait_for(1)

    await provider.close()
    await provider.close()  # idempotent
    release.set()

    assert subscription.status().stopped
    inspector = await queue_provider_factory()
    assert await inspector.depth(queue, GROUP) == QueueDepth(ready=0, pending=1)


async def test_a_running_group_cannot_be_subscribed_twice(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, dlq = names(queue_scope)
    first = await queue_provider.subscribe(queue, GROUP, RecordingHandler(), prefetch=1, dead_letter_queue=dlq)

    with pytest.raises(QueueError, match="already running"):
        await queue_provider.subscribe(queue, GROUP, RecordingHandler(), prefetch=1, dead_letter_queue=dlq)
    with pytest.raises(ValueError, match="prefetch"):
        await queue_provider.subscribe(queue, "other", RecordingHandler(), prefetch=0, dead_letter_queue=dlq)

    await first.stop()
    handler = RecordingHandler()
    await queue_provider.subscribe(queue, GROUP, handler, prefetch=1, dead_letter_queue=dlq)
    await queue_provider.publish(queue, message())
    await handler.wait_for(1)


async def test_health_reports_subscriptions_and_pending(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, dlq = names(queue_scope)
    gate = asyncio.Event()

    async def respond(_: QueueMessage) -> MessageStatus:
        await gate.wait()
        return MessageStatus.ACK

    handler = RecordingHandler(respond)
    healthy = await queue_provider.health()
    assert (healthy.connected, healthy.health_state) == (True, "healthy")
    assert healthy.details["last_message_age_seconds"] is None

    await queue_provider.publish(queue, message())
    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=5, dead_letter_queue=dlq)
    await handler.wait_for(1)
    busy = await queue_provider.health()

    assert busy.provider in ("memory", "redis")
    assert busy.details["provider"] == busy.provider
    assert busy.details["health_state"] == "healthy"
    assert busy.details["active_subscriptions"] == 1
    assert busy.details["pending_total"] == 1
    assert busy.details["reconnect_attempts"] == 0
    assert busy.details["last_message_age_seconds"] >= 0
    gate.set()
    await subscription.stop()
    await queue_provider.close()
    closed = await queue_provider.health()
    assert (closed.connected, closed.health_state) == (False, "degraded")
    assert closed.details["active_subscriptions"] == 0


async def test_operations_need_connect(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, _ = names(queue_scope)
    await queue_provider.close()

    with pytest.raises(QueueError) as raised:
        await queue_provider.publish(queue, message())
    assert raised.value.code == "queue_not_connected"
    await queue_provider.connect()
    await queue_provider.connect()  # idempotent
    assert await queue_provider.publish(queue, message()) == PublishStatus.PUBLISHED


async def test_every_settlement_is_reported_once_as_acknowledged(
    queue_provider: QueueProvider, queue_scope: str
) -> None:
    queue, dlq = names(queue_scope)
    reports: list[tuple[str, MessageStatus, bool]] = []
    acked, failed = message(1), message(2)

    def respond(received: QueueMessage) -> MessageStatus:
        return MessageStatus.ACK if received.id == acked.id else MessageStatus.DEAD_LETTER

    subscription = await queue_provider.subscribe(
        queue,
        GROUP,
        RecordingHandler(respond),
        prefetch=5,
        dead_letter_queue=dlq,
        on_settled=lambda settled_message, status, acknowledged: reports.append(
            (settled_message.id, status, acknowledged)
        ),
    )
    await queue_provider.publish(queue, acked)
    await queue_provider.publish(queue, failed)
    await wait_until(lambda: len(reports) == 2, what="two settlements reported")
    await settled(subscription)

    assert sorted(reports) == sorted(
        [(acked.id, MessageStatus.ACK, True), (failed.id, MessageStatus.DEAD_LETTER, True)]
    )


async def test_a_handler_holds_its_delivery(queue_provider: QueueProvider, queue_scope: str) -> None:
    queue, dlq = names(queue_scope)
    answers: list[bool] = []

    async def respond(_: QueueMessage) -> MessageStatus:
        answers.append(await delivery_still_held())
        return MessageStatus.ACK

    await queue_provider.publish(queue, message())
    handler = RecordingHandler(respond)
    subscription = await queue_provider.subscribe(queue, GROUP, handler, prefetch=1, dead_letter_queue=dlq)
    await handler.wait_for(1)
    await settled(subscription)
    assert answers == [True]
    assert await delivery_still_held()  # outside any delivery: nothing to lose
