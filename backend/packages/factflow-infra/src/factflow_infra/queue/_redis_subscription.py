"""`RedisSubscription`: one consumer group read with XREADGROUP, reclaimed with XAUTOCLAIM, leased with XCLAIM."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from factflow_protocols import QueueError, QueueMessage, QueueUnavailableError

from ._common import Backoff, Delivery
from ._redis_support import NoGroupError, text
from ._subscription import BaseSubscription

if TYPE_CHECKING:
    from ._redis import RedisStreamsQueueProvider

__all__ = ("BLOCK_MILLISECONDS", "RedisSubscription")

logger = logging.getLogger(__name__)

BLOCK_MILLISECONDS = 1000
"""`XREADGROUP … BLOCK`: how often the reader comes back to notice pause and stop."""
_LEASE_BATCH = 500


class RedisSubscription(BaseSubscription[Delivery]):
    """A consumer of one stream for one group (docs/guides/deployment.md, Redis Streams).

    - **Read:** `XREADGROUP COUNT (prefetch − outstanding) BLOCK 1000 … >`; nothing while paused.
    - **Reclaim:** every min(60 s, timeout ÷ 4), `XAUTOCLAIM` entries idle past the visibility
      timeout (unacked ones this or a dead consumer left), with their counts from `XPENDING`.
    - **Lease:** every timeout ÷ 3, `XCLAIM … JUSTID` on every entry still held, so a long handler
      is never reclaimed (and no delivery is counted).
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
        self._reclaim_interval = min(60.0, timeout / 4)
        self._reclaim_due = 0.0  # reclaim at once: the subscribe-time claim made orphans eligible
        self._reclaim_cursor = "0-0"
        self._expect_missing = False
        self._backoff = Backoff()
        self._lease_task: asyncio.Task[None] | None = None

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
                await self._sleep(self._backoff.next_delay())
                continue
            except Exception:
                logger.exception("Reading %r failed; retrying", self._queue)
                await self._sleep(self._backoff.next_delay())
                continue
            self._backoff.reset()
            stats.note_success()
            for delivery in deliveries:
                if not self._is_local(delivery.entry_id):
                    self._dispatch(delivery)

    async def _fetch(self, count: int) -> list[Delivery]:
        if time.monotonic() >= self._reclaim_due:
            claimed = await self._reclaim(count)
            if claimed:
                return claimed
        queue, group, consumer = self._queue, self._subscription, self._consumer

        async def read(client: Redis) -> Any:
            return await client.xreadgroup(group, consumer, {queue: ">"}, count=count, block=BLOCK_MILLISECONDS)

        reply = await self._provider._call(
            f"reading {queue!r}",
            read,
            limit_seconds=BLOCK_MILLISECONDS / 1000 + self._provider.operation_timeout_seconds,
        )
        deliveries: list[Delivery] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                if fields is not None:
                    deliveries.append(_delivery(entry_id, fields, 1))
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
                logger.info("Reclaimed %d idle entries on %r", len(claimed), queue)
                return [
                    _delivery(entry_id, fields, counts[entry_id]) for entry_id, fields in claimed if entry_id in counts
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

    async def _recreate_group(self) -> None:
        await self._provider._ensure_group(self._queue, self._subscription)
        self._reclaim_cursor = "0-0"
        self._reclaim_due = 0.0
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
            entry_ids = list(self._inflight) + [delivery.entry_id for delivery in self._held]
            for start in range(0, len(entry_ids), _LEASE_BATCH):
                batch = entry_ids[start : start + _LEASE_BATCH]

                async def claim(client: Redis, batch: list[Any] = batch) -> Any:
                    return await client.xclaim(queue, group, consumer, 0, batch, justid=True)

                try:
                    await self._provider._call(f"extending leases on {queue!r}", claim)
                except QueueUnavailableError as exc:
                    self._provider.stats.note_failure(exc, f"extending leases on {queue!r}")
                    break
                except QueueError as exc:
                    logger.debug("Lease extension on %r failed: %s", queue, exc)
                    break

    # ------------------------------------------------------------------ settlement
    async def _ack(self, delivery: Delivery) -> None:
        queue, group = self._queue, self._subscription

        async def ack(client: Redis) -> Any:
            return await self._provider._batch.ack(queue, group, delivery.entry_id)

        try:
            await self._provider._call_retrying(f"acking on {queue!r}", ack, batched=True)
        except QueueError as exc:
            logger.warning("Ack of %s on %r failed; it stays pending: %s", delivery.entry_id, queue, exc)
            return
        delivery.settled = True

    async def _move_to_dead_letter(self, delivery: Delivery, envelope: QueueMessage, *, raw: bytes | None) -> None:
        queue, group = self._queue, self._subscription
        args: list[str | bytes] = [group, delivery.entry_id, "mid", envelope.id, "env", envelope.encode()]
        if raw is not None:
            args += ["raw", raw]
        script = self._provider._dead_letter

        async def move(client: Redis) -> Any:
            return await self._provider._run_script(script, [queue, self._dead_letter_queue], args)

        try:
            await self._provider._call_retrying(f"dead-lettering on {queue!r}", move, batched=True)
        except QueueError as exc:
            logger.warning("Dead-lettering %s on %r failed; it stays pending: %s", delivery.entry_id, queue, exc)
            return
        delivery.settled = True

    def _release(self, delivery: Delivery) -> None:
        # The entry stays in the group's pending list; without the lease it idles until reclaimed.
        pass


def _delivery(entry_id: Any, fields: dict[bytes, bytes], count: int) -> Delivery:
    mid = fields.get(b"mid")
    return Delivery(
        entry_id=text(entry_id),
        message_id=mid.decode(errors="replace") if mid is not None else None,
        data=fields.get(b"env"),
        delivery_count=count,
    )
