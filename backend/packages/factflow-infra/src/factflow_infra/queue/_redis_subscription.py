"""`RedisSubscription`: one consumer group read with XREADGROUP, reclaimed with XAUTOCLAIM, leased with XCLAIM."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from factflow_protocols import DeliveryHold, QueueError, QueueMessage, QueueUnavailableError

from ._common import Delivery, redis_backoff
from ._redis_support import NoGroupError, text
from ._subscription import BaseSubscription

if TYPE_CHECKING:
    from ._redis import RedisStreamsQueueProvider

__all__ = ("BLOCK_MILLISECONDS", "OWN_PENDING_AUDIT_SECONDS", "RedisSubscription")

logger = logging.getLogger(__name__)

BLOCK_MILLISECONDS = 1000
"""`XREADGROUP … BLOCK`: how often the reader comes back to notice pause and stop."""
OWN_PENDING_AUDIT_SECONDS = 2.0
"""How often the reader compares this consumer's pending entries in Redis with the deliveries it holds."""
_LEASE_BATCH = 500
_OWN_PENDING_PAGE = 200


class RedisSubscription(BaseSubscription[Delivery]):
    """A consumer of one stream for one group (docs/guides/deployment.md, Redis Streams).

    - **Read:** `XREADGROUP COUNT (prefetch − outstanding) BLOCK 1000 … >`; nothing while paused.
    - **Reclaim:** every min(60 s, timeout ÷ 4), `XAUTOCLAIM` entries idle past the visibility
      timeout (unacked ones this or a dead consumer left), with their counts from `XPENDING`.
    - **Lease:** every timeout ÷ 3, `XCLAIM … JUSTID` on every entry still held, so a long handler
      is never reclaimed (and no delivery is counted).
    - **Hold:** before each adapter call the engine asks whether the entry is still this consumer's
      (`delivery_still_held()`). While the lease was restarted less than ⅔ of the timeout ago it
      is, without a call; otherwise one script checks the owner in `XPENDING` (renewing it when it
      is us), waiting while Redis is unreachable. An entry read ahead and left waiting while this
      process was cut off past its lease is then not run here a second time: its new owner has it.
    - **Lost replies:** Redis moves entries into this consumer's pending list when it runs
      `XREADGROUP` (or `XAUTOCLAIM`), before the reply is sent. When the connection breaks in
      between (Redis restarting, a proxy resetting it, a timeout), the entries are pending here
      but were never handed to the handler; without help they would wait out the visibility
      timeout. So after every failed read, and whenever a periodic `XPENDING` audit finds more
      entries pending for this consumer than it holds, the reader walks its own pending list
      and hands over the entries it does not hold, with their delivery counts. Entries a
      handler left unsettled on purpose (RETRY) are not taken: they wait for the reclaim.
    - **Loss:** `NOGROUP` recreates the group from the start and calls `on_lost_state`, unless this
      provider purged the queue itself.
    """

    def __init__(self, provider: RedisStreamsQueueProvider, *, consumer: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._provider = provider
        self._consumer = consumer
        timeout = provider.visibility_timeout_seconds
        self._visibility_ms = max(1, int(timeout * 1000))
        self._lease_interval = timeout / 3
        self._fresh_seconds = timeout - self._lease_interval
        """A lease restarted less than this long ago cannot have lapsed before the adapter starts."""
        self._reclaim_interval = min(60.0, timeout / 4)
        self._reclaim_due = 0.0  # reclaim at once: the subscribe-time claim made orphans eligible
        self._reclaim_cursor = "0-0"
        self._expect_missing = False
        self._backoff = redis_backoff()
        self._lease_task: asyncio.Task[None] | None = None
        self._own_pending_cursor: str | None = None
        """Where the walk of this consumer's pending list continues; None when no walk is due."""
        self._audit_due = time.monotonic() + OWN_PENDING_AUDIT_SECONDS
        self._released: dict[str, float] = {}
        """Entries a handler left unsettled (id → when): they wait for the reclaim, not the walk."""
        self._lease_lost: set[str] = set()
        """Entries held here that another consumer claimed after their lease lapsed."""

    def start(self) -> None:
        super().start()
        self._lease_task = asyncio.create_task(
            self._lease_loop(), name=f"queue-lease:{self._queue}:{self._subscription}"
        )

    def expect_missing(self) -> None:
        """The queue is being purged on purpose: recreate it silently, without `on_lost_state`."""
        self._expect_missing = True

    def _reader_stop_seconds(self) -> float:
        return BLOCK_MILLISECONDS / 1000 + self._provider.operation_timeout_seconds

    async def _after_drain(self) -> None:
        task = self._lease_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    # ------------------------------------------------------------------ reading
    async def _read_loop(self) -> None:
        stats = self._provider.stats
        while await self._wait_for_capacity():
            try:
                try:
                    deliveries = await self._fetch(self._free())
                except NoGroupError:
                    await self._recreate_group()
                    continue
            except QueueUnavailableError as exc:
                stats.note_failure(exc, f"reading {self._queue!r}")
                self._own_pending_cursor = "-"  # the failed call may have delivered entries we never saw
                await self._backoff_wait(self._backoff.next_delay())
                continue
            except Exception:
                logger.exception("Reading %r failed; retrying", self._queue)
                self._own_pending_cursor = "-"
                await self._sleep(self._backoff.next_delay())
                continue
            self._backoff.reset()
            stats.note_success()
            for delivery in deliveries:
                if not self._is_local(delivery.entry_id):
                    self._dispatch(delivery)

    async def _backoff_wait(self, seconds: float) -> None:
        """Back off for `seconds`, ending early on a stop or when Redis answers again."""
        event = self._provider.outage()
        back_online = asyncio.ensure_future(event.wait())
        stop = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait({back_online, stop}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            back_online.cancel()
            stop.cancel()
        if event.is_set():
            self._backoff.reset()

    async def _fetch(self, count: int) -> list[Delivery]:
        now = time.monotonic()
        if self._own_pending_cursor is None and now >= self._audit_due:
            self._audit_due = now + OWN_PENDING_AUDIT_SECONDS
            if await self._own_pending_count() > self.outstanding() + self._recently_released(now):
                self._own_pending_cursor = "-"
        if self._own_pending_cursor is not None:
            recovered = await self._recover_own_pending(count)
            if recovered:
                return recovered
        if time.monotonic() >= self._reclaim_due:
            claimed = await self._reclaim(count)
            if claimed:
                return claimed
        queue, group, consumer = self._queue, self._subscription, self._consumer

        async def read(client: Redis) -> Any:
            return await client.xreadgroup(group, consumer, {queue: ">"}, count=count, block=BLOCK_MILLISECONDS)

        sent = time.monotonic()
        reply = await self._provider._call(
            f"reading {queue!r}",
            read,
            limit_seconds=BLOCK_MILLISECONDS / 1000 + self._provider.operation_timeout_seconds,
        )
        deliveries: list[Delivery] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                if fields is not None:
                    deliveries.append(_delivery(entry_id, fields, 1, confirmed_at=sent))
        return deliveries

    async def _reclaim(self, count: int) -> list[Delivery]:
        """Claim up to `count` entries idle past the visibility timeout, continuing the scan cursor."""
        queue, group, consumer = self._queue, self._subscription, self._consumer
        while True:
            cursor = self._reclaim_cursor

            async def autoclaim(client: Redis, cursor: str = cursor) -> Any:
                return await client.xautoclaim(
                    queue, group, consumer, self._visibility_ms, start_id=cursor, count=count
                )

            sent = time.monotonic()
            reply = await self._provider._call(f"reclaiming on {queue!r}", autoclaim)
            next_cursor = text(reply[0])
            wrapped = next_cursor == "0-0"
            self._reclaim_cursor = next_cursor
            if wrapped:
                self._reclaim_due = time.monotonic() + self._reclaim_interval
            claimed = [(text(entry_id), fields) for entry_id, fields in reply[1] if fields]
            claimed = [(entry_id, fields) for entry_id, fields in claimed if not self._is_local(entry_id)]
            if claimed:
                counts = await self._delivery_counts([entry_id for entry_id, _ in claimed])
                for entry_id, _ in claimed:
                    self._released.pop(entry_id, None)
                logger.info(
                    "Redelivering %d entries on %r left unacknowledged past the visibility timeout", len(claimed), queue
                )
                return [
                    _delivery(entry_id, fields, counts[entry_id], confirmed_at=sent)
                    for entry_id, fields in claimed
                    if entry_id in counts
                ]
            if wrapped:
                return []

    async def _delivery_counts(self, entry_ids: list[str]) -> dict[str, int]:
        """Delivery counts from `XPENDING`; an entry missing there was acked meanwhile."""
        queue, group = self._queue, self._subscription

        async def pending(client: Redis) -> Any:
            pipe = client.pipeline(transaction=False)
            for entry_id in entry_ids:
                pipe.xpending_range(queue, group, min=entry_id, max=entry_id, count=1)
            return await pipe.execute()

        replies = await self._provider._call(f"counting deliveries on {queue!r}", pending)
        counts: dict[str, int] = {}
        for reply in replies:
            for row in reply:
                counts[text(row["message_id"])] = int(row["times_delivered"])
        return counts

    # ------------------------------------------------------------------ lost replies
    def _recently_released(self, now: float) -> int:
        """Entries left unsettled on purpose that the reclaim has not taken yet (older ones are forgotten)."""
        horizon = now - self._provider.visibility_timeout_seconds
        for entry_id in [entry_id for entry_id, at in self._released.items() if at < horizon]:
            del self._released[entry_id]
        return len(self._released)

    async def _own_pending_count(self) -> int:
        """Entries of the group pending for this consumer (`XPENDING` summary)."""
        queue, group, consumer = self._queue, self._subscription, self._consumer

        async def summary(client: Redis) -> Any:
            return await client.xpending(queue, group)

        reply = await self._provider._call(f"auditing pending entries on {queue!r}", summary)
        for row in reply.get("consumers") or []:
            if text(row["name"]) == consumer:
                return int(row["pending"])
        return 0

    async def _recover_own_pending(self, count: int) -> list[Delivery]:
        """Up to `count` entries pending for this consumer that it does not hold, continuing the walk."""
        queue, group, consumer = self._queue, self._subscription, self._consumer
        while (start := self._own_pending_cursor) is not None:

            async def pending(client: Redis, start: str = start) -> Any:
                return await client.xpending_range(
                    queue, group, min=start, max="+", count=_OWN_PENDING_PAGE, consumername=consumer
                )

            rows = await self._provider._call(f"listing own pending entries on {queue!r}", pending)
            self._own_pending_cursor = f"({text(rows[-1]['message_id'])}" if len(rows) == _OWN_PENDING_PAGE else None
            lost = [
                (text(row["message_id"]), int(row["times_delivered"]))
                for row in rows
                if not self._is_local(text(row["message_id"])) and text(row["message_id"]) not in self._released
            ]
            if len(lost) > count:
                lost = lost[:count]
                self._own_pending_cursor = f"({lost[-1][0]}"
            if lost:
                deliveries = await self._entries(dict(lost))
                if deliveries:
                    logger.warning(
                        "Recovered %d entr%s on %r delivered to this consumer by a call whose reply was lost",
                        len(deliveries),
                        "y" if len(deliveries) == 1 else "ies",
                        queue,
                    )
                    return deliveries
        return []

    async def _entries(self, counts: dict[str, int]) -> list[Delivery]:
        """The stream entries `counts` names (id → delivery count); ids deleted from the stream are acked away."""
        queue, group = self._queue, self._subscription

        async def read(client: Redis) -> Any:
            pipe = client.pipeline(transaction=False)
            for entry_id in counts:
                pipe.xrange(queue, min=entry_id, max=entry_id, count=1)
            return await pipe.execute()

        replies = await self._provider._call(f"reading own pending entries on {queue!r}", read)
        deliveries: list[Delivery] = []
        for entry_id, reply in zip(counts, replies, strict=True):
            if reply and reply[0][1]:
                deliveries.append(_delivery(entry_id, reply[0][1], counts[entry_id]))
        gone = [entry_id for entry_id in counts if entry_id not in {d.entry_id for d in deliveries}]
        if gone:
            await self._provider._call(f"acking deleted entries on {queue!r}", lambda c: c.xack(queue, group, *gone))
        return deliveries

    async def _recreate_group(self) -> None:
        await self._provider._ensure_group(self._queue, self._subscription)
        self._reclaim_cursor = "0-0"
        self._reclaim_due = 0.0
        self._own_pending_cursor = None
        self._released.clear()
        if self._expect_missing:
            self._expect_missing = False
            logger.debug("Recreated group %r on purged %r", self._subscription, self._queue)
            return
        logger.warning(
            "Queue %r or its group %r vanished (Redis lost state); recreated it empty, reconciliation needed",
            self._queue,
            self._subscription,
        )
        self._notify_lost_state()

    # ------------------------------------------------------------------ lease
    async def _lease_loop(self) -> None:
        queue, group, consumer = self._queue, self._subscription, self._consumer
        while True:
            await asyncio.sleep(self._lease_interval)
            held = {**self._inflight, **{delivery.entry_id: delivery for delivery in self._held}}
            entry_ids = list(held)
            for start in range(0, len(entry_ids), _LEASE_BATCH):
                batch = entry_ids[start : start + _LEASE_BATCH]
                sent = time.monotonic()

                async def renew(client: Redis, batch: list[Any] = batch) -> Any:
                    return await self._provider._run_script(self._provider._lease, [queue], [group, consumer, *batch])

                try:
                    lost = await self._provider._call(f"extending leases on {queue!r}", renew, batched=True)
                except QueueUnavailableError as exc:
                    self._provider.stats.note_failure(exc, f"extending leases on {queue!r}")
                    break
                except QueueError as exc:
                    logger.debug("Lease extension on %r failed: %s", queue, exc)
                    break
                lost_ids = [text(entry_id) for entry_id in lost]
                self._note_lost_leases(lost_ids)
                for entry_id in set(batch).difference(lost_ids):
                    held[entry_id].confirmed_at = sent

    def _note_lost_leases(self, entry_ids: list[str]) -> None:
        """Entries held here that another consumer has claimed (they are pending for it now).

        Another consumer claims an entry only once its lease lapsed (this process was cut off from
        Redis, or stalled). A handler already past its last hold check still finishes and settles
        it (publishes are deduplicated, a second ack is a no-op); one that has not reached an
        adapter yet is told it no longer holds the entry and leaves it to the new owner. The lease
        is not renewed, so the two stop taking it from each other. Logged once per entry.
        """
        newly_lost = [e for e in entry_ids if e in self._inflight and e not in self._lease_lost]
        if newly_lost:
            self._lease_lost.update(newly_lost)
            logger.warning(
                "Leases on %d entries of %r lapsed and another consumer claimed them; they go no further here",
                len(newly_lost),
                self._queue,
            )
        self._lease_lost &= set(self._inflight)

    # ------------------------------------------------------------------ hold
    def _hold(self, delivery: Delivery) -> DeliveryHold:
        return _Hold(self, delivery)

    def _surely_held(self, delivery: Delivery) -> bool:
        if delivery.entry_id in self._lease_lost:
            return False
        return time.monotonic() - delivery.confirmed_at < self._fresh_seconds

    async def _confirm_held(self, delivery: Delivery) -> bool:
        """Whether the entry is still pending for this consumer (renewed if so); waits while Redis is unreachable."""
        entry_id = delivery.entry_id
        if entry_id in self._lease_lost:
            return False
        queue, group, consumer = self._queue, self._subscription, self._consumer
        sent = 0.0

        async def ask(client: Redis) -> Any:
            nonlocal sent
            sent = time.monotonic()
            return await self._provider._run_script(self._provider._held, [queue], [group, consumer, entry_id])

        try:
            held = bool(await self._provider._call_retrying(f"checking the lease on {queue!r}", ask, batched=True))
        except QueueError as exc:  # the group is gone (lost state): nothing of it is held any more
            logger.warning("Checking the lease of %s on %r failed; not running it: %s", entry_id, queue, exc)
            held = False
        if held:
            delivery.confirmed_at = max(delivery.confirmed_at, sent)
            return True
        if entry_id in self._inflight:
            self._lease_lost.add(entry_id)
        logger.debug(
            "Entry %s of %r is no longer held here (its lease lapsed and another consumer took it); left to that one",
            entry_id,
            queue,
        )
        return False

    # ------------------------------------------------------------------ settlement
    async def _ack(self, delivery: Delivery) -> None:
        queue, group = self._queue, self._subscription

        attempts = 0

        async def ack(client: Redis) -> bool:
            nonlocal attempts
            attempts += 1
            return await self._provider._batch.ack(queue, group, delivery.entry_id)

        try:
            acknowledged = await self._provider._call_retrying(f"acking on {queue!r}", ack, batched=True)
        except QueueError as exc:
            logger.warning("Ack of %s on %r failed; it stays pending: %s", delivery.entry_id, queue, exc)
            return
        delivery.acknowledged = _settled_here(acknowledged, retried=attempts > 1)
        delivery.settled = True

    async def _move_to_dead_letter(self, delivery: Delivery, envelope: QueueMessage, *, raw: bytes | None) -> None:
        queue, group = self._queue, self._subscription
        args: list[str | bytes] = [group, delivery.entry_id, "mid", envelope.id, "env", envelope.encode()]
        if raw is not None:
            args += ["raw", raw]
        script = self._provider._dead_letter

        async def move(client: Redis) -> Any:
            return await self._provider._run_script(script, [queue, self._dead_letter_queue], args)

        attempts = 0

        async def move_once(client: Redis) -> Any:
            nonlocal attempts
            attempts += 1
            return await move(client)

        try:
            moved = await self._provider._call_retrying(f"dead-lettering on {queue!r}", move_once, batched=True)
        except QueueError as exc:
            logger.warning("Dead-lettering %s on %r failed; it stays pending: %s", delivery.entry_id, queue, exc)
            return
        delivery.acknowledged = _settled_here(bool(moved), retried=attempts > 1)
        delivery.settled = True

    def _release(self, delivery: Delivery) -> None:
        # The entry stays in the group's pending list; without the lease it idles until reclaimed.
        self._released[delivery.entry_id] = time.monotonic()


def _settled_here(removed: bool, *, retried: bool) -> bool:
    """Whether this settlement removed the pending entry.

    Redis says so (1) on the first attempt. An attempt retried after a connection failure may find
    the entry gone because the failed attempt itself landed and only its reply was lost: that
    settlement is ours too. (The other way to find it gone, a group recreated after lost state, is
    squared by the reconciliation that follows, which re-syncs the counters to the queues.)
    """
    return removed or retried


def _delivery(entry_id: Any, fields: dict[bytes, bytes], count: int, *, confirmed_at: float = 0.0) -> Delivery:
    mid = fields.get(b"mid")
    return Delivery(
        entry_id=text(entry_id),
        message_id=mid.decode(errors="replace") if mid is not None else None,
        data=fields.get(b"env"),
        delivery_count=count,
        confirmed_at=confirmed_at,
    )


class _Hold:
    """`DeliveryHold` of one delivery of a `RedisSubscription`."""

    __slots__ = ("_delivery", "_subscription")

    def __init__(self, subscription: RedisSubscription, delivery: Delivery) -> None:
        self._subscription = subscription
        self._delivery = delivery

    def surely_held(self) -> bool:
        return self._subscription._surely_held(self._delivery)

    async def confirm_held(self) -> bool:
        return await self._subscription._confirm_held(self._delivery)
