"""`RedisStreamsQueueProvider`: queues as Redis Streams with one consumer group per subscription."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError

from factflow_foundation import Backoff
from factflow_protocols import (
    DeadLetterCallback,
    LostStateCallback,
    MessageHandler,
    PublishStatus,
    QueueDepth,
    QueueError,
    QueueHealth,
    QueueMessage,
    QueueUnavailableError,
    SettledCallback,
)

from ._common import ProviderStats, consumer_name, dedupe_key, dedupe_member, new_boot_id, redis_backoff
from ._redis_batch import CommandBatcher
from ._redis_subscription import RedisSubscription
from ._redis_support import (
    DEAD_LETTER_SCRIPT,
    HELD_SCRIPT,
    LEASE_SCRIPT,
    PUBLISH_SCRIPT,
    glob_escape,
    mask_url,
    text,
    translate_redis_error,
)
from ._subscription import BaseSubscription

__all__ = ("RedisStreamsQueueProvider",)

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MIN_REDIS_MAJOR = 7
_CLAIM_BATCH = 1000
_SCAN_COUNT = 1000
_PROBE_SECONDS = 0.2
"""How often an outage is probed with `PING`."""
_MAX_CONNECTIONS = 256
"""Pooled connections; each subscription's blocking read holds one, so this bounds live subscriptions."""


class RedisStreamsQueueProvider:
    """Queues as Redis Streams (docs/guides/deployment.md); Redis ≥ 7.0.

    Each queue is a stream of entries `{mid, env}`; each subscription a consumer group created from
    the start of the stream; this instance is the consumer `<host>:<pid>:<boot-id>` with a fresh
    boot id, so the consumers of an earlier process show up as dead: at subscribe their pending
    entries are claimed at once and the consumers removed. Only one live provider instance per
    group is expected (one server process, docs/guides/deployment.md).

    Connection loss: readers back off from 0.5 s to 30 s and carry on; publishes, acks and
    dead-letter moves retry with the same backoff until they succeed (bound them with
    `asyncio.timeout()` or `publish_timeout_seconds`); health reports `reconnecting`. Every redis-py
    error is raised as `QueueUnavailableError` or `QueueError`, chained `from` the original.

    Args:
        url: `redis://` or `rediss://` URL (database number in the path).
        visibility_timeout_seconds: Idle time after which an unacked delivery is reclaimed and
            redelivered; leases are renewed every third of it.
        operation_timeout_seconds: Limit of one Redis call (a blocking read adds its block time).
        publish_timeout_seconds: Give up publishing after this long unreachable and raise
            `QueueUnavailableError`; `None` retries until the caller cancels.
        consumer: The consumer name (a worker's id); `<host>:<pid>:<boot-id>` when omitted.
    """

    def __init__(
        self,
        url: str,
        *,
        visibility_timeout_seconds: float = 300.0,
        operation_timeout_seconds: float = 5.0,
        publish_timeout_seconds: float | None = None,
        consumer: str | None = None,
    ) -> None:
        if visibility_timeout_seconds <= 0:
            raise ValueError(f"visibility_timeout_seconds must be positive, got {visibility_timeout_seconds!r}")
        if operation_timeout_seconds <= 0:
            raise ValueError(f"operation_timeout_seconds must be positive, got {operation_timeout_seconds!r}")
        self._url = url
        self.visibility_timeout_seconds = visibility_timeout_seconds
        self.operation_timeout_seconds = operation_timeout_seconds
        self.publish_timeout_seconds = publish_timeout_seconds
        self.boot_id = new_boot_id()
        """Random per instance; part of the consumer name."""
        self.consumer_name = consumer or consumer_name(self.boot_id)
        """`<host>:<pid>:<boot-id>`; also the connection name (`factflow:<consumer>`) in `CLIENT LIST`."""
        self.stats = ProviderStats()
        self._client: Redis | None = None
        self._publish_script: AsyncScript | None = None
        self._dead_letter_script: AsyncScript | None = None
        self._lease_script: AsyncScript | None = None
        self._held_script: AsyncScript | None = None
        self._batcher: CommandBatcher | None = None
        self._subscriptions: dict[tuple[str, str], RedisSubscription] = {}
        self._lock = asyncio.Lock()
        self._publish_tokens = itertools.count()
        self._back_online: asyncio.Event | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._live_consumers: Callable[[], Awaitable[set[str]]] | None = None

    def __repr__(self) -> str:
        return f"RedisStreamsQueueProvider({mask_url(self._url)!r}, consumer={self.consumer_name!r})"

    async def __aenter__(self) -> RedisStreamsQueueProvider:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ lifecycle
    async def connect(self) -> None:
        """Open the connection pool and check the server (Redis ≥ 7.0); idempotent.

        Raises:
            QueueUnavailableError: Redis cannot be reached (one attempt; the caller retries).
            QueueError: the URL is invalid or the server too old.
        """
        async with self._lock:
            if self._client is not None:
                return
            try:
                # A blocking pool: under a burst (a fan-out publishing hundreds of children at once)
                # callers wait for a free connection, bounded by our own `asyncio.timeout()`. The
                # default pool instead fails at once with "Too many connections", which reads as an
                # outage and sends publishes and acks into backoff.
                pool = BlockingConnectionPool.from_url(
                    self._url,
                    max_connections=_MAX_CONNECTIONS,
                    timeout=None,
                    protocol=2,
                    decode_responses=False,
                    socket_connect_timeout=self.operation_timeout_seconds,
                    # No socket timeout: every call is bounded by our own `asyncio.timeout()`. With
                    # one, redis-py writes through `asyncio.wait_for`, which on Python 3.11 can
                    # swallow a cancellation that lands as the write completes; the cancelled task
                    # then carries on (a route's stop, or the whole shutdown, waits for it forever).
                    socket_timeout=None,
                    # One immediate retry replaces a pooled connection the server dropped; anything
                    # longer is our own backoff.
                    retry=Retry(NoBackoff(), 1),
                    client_name=f"factflow:{self.consumer_name}",
                )
                client = Redis.from_pool(pool)
            except ValueError as exc:
                raise QueueError(f"Invalid Redis URL {mask_url(self._url)!r}: {exc}", code="queue_error") from exc
            try:
                async with asyncio.timeout(self.operation_timeout_seconds):
                    info = await client.info("server")
            except (RedisError, OSError) as exc:
                await client.aclose()
                raise translate_redis_error(exc, f"connecting to {mask_url(self._url)}") from exc
            version = str(info.get("redis_version", "0"))
            if int(version.split(".")[0] or 0) < _MIN_REDIS_MAJOR:
                await client.aclose()
                raise QueueError(f"Redis {version} is too old; the queue needs Redis >= 7.0.")
            self._client = client
            self._batcher = CommandBatcher(pool, timeout=self.operation_timeout_seconds)
            self._publish_script = client.register_script(PUBLISH_SCRIPT)
            self._dead_letter_script = client.register_script(DEAD_LETTER_SCRIPT)
            self._lease_script = client.register_script(LEASE_SCRIPT)
            self._held_script = client.register_script(HELD_SCRIPT)
            logger.info("Queue connected to %s as consumer %r", mask_url(self._url), self.consumer_name)

    async def close(self) -> None:
        """Stop every subscription at once (running handlers cancelled, nothing acked), then close; idempotent."""
        probe, self._probe_task = self._probe_task, None
        if probe is not None and not probe.done():
            probe.cancel()
            await asyncio.wait({probe})
        async with self._lock:
            for subscription in list(self._subscriptions.values()):
                await subscription._shutdown(0, cancel_reader=True)
            client, self._client = self._client, None
            batcher, self._batcher = self._batcher, None
            if batcher is not None:
                await batcher.close()
            if client is not None:
                await client.aclose()
                logger.info("Queue connection to %s closed", mask_url(self._url))

    # ------------------------------------------------------------------ calls
    def _require_client(self) -> Redis:
        if self._client is None:
            raise QueueError("The Redis queue is not connected; call `connect()` first.", code="queue_not_connected")
        return self._client

    @property
    def _dead_letter(self) -> AsyncScript:
        if self._dead_letter_script is None:
            raise QueueError("The Redis queue is not connected; call `connect()` first.", code="queue_not_connected")
        return self._dead_letter_script

    @property
    def _lease(self) -> AsyncScript:
        if self._lease_script is None:
            raise QueueError("The Redis queue is not connected; call `connect()` first.", code="queue_not_connected")
        return self._lease_script

    @property
    def _held(self) -> AsyncScript:
        if self._held_script is None:
            raise QueueError("The Redis queue is not connected; call `connect()` first.", code="queue_not_connected")
        return self._held_script

    @property
    def _batch(self) -> CommandBatcher:
        if self._batcher is None:
            raise QueueError("The Redis queue is not connected; call `connect()` first.", code="queue_not_connected")
        return self._batcher

    async def _run_script(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """`EVALSHA` in the next shared batch; loads the script once if Redis lost it (`NOSCRIPT`)."""
        try:
            return await self._batch.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            async with asyncio.timeout(self.operation_timeout_seconds):
                await self._require_client().script_load(script.script)
            return await self._batch.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    async def _call(
        self,
        what: str,
        operation: Callable[[Redis], Awaitable[T]],
        *,
        limit_seconds: float | None = None,
        batched: bool = False,
    ) -> T:
        """Run one Redis operation within `asyncio.timeout()` (`limit_seconds`), translating errors.

        `batched` operations go through the `CommandBatcher`, which bounds each batch itself; they
        skip the per-call timeout (one timer per command was a large part of their cost).

        Raises:
            QueueUnavailableError: connection failure or timeout.
            QueueError: Redis refused the command (`NoGroupError` for `NOGROUP`).
        """
        client = self._require_client()
        try:
            if batched:
                return await operation(client)
            async with asyncio.timeout(self.operation_timeout_seconds if limit_seconds is None else limit_seconds):
                return await operation(client)
        except (RedisError, OSError) as exc:
            error = translate_redis_error(exc, what)
            if isinstance(error, QueueUnavailableError):
                self.outage()
            raise error from exc

    # ------------------------------------------------------------------ outages
    def outage(self) -> asyncio.Event:
        """The event set when Redis answers again after the current outage (starting one if none is under way).

        Everything waiting out a backoff after a failed call also waits on it, so work resumes
        within one probe period of Redis coming back instead of at the end of a backoff that may
        have grown to many seconds.
        """
        event = self._back_online
        if event is None or event.is_set():
            event = self._back_online = asyncio.Event()
            self._probe_task = asyncio.create_task(self._probe(event), name="queue-redis-probe")
        return event

    async def wait_back_online(self, event: asyncio.Event, seconds: float) -> None:
        """Wait `seconds`, or less if `event` (from `outage()`) is set meanwhile."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

    async def _probe(self, event: asyncio.Event) -> None:
        """`PING` every `_PROBE_SECONDS` until Redis answers, then set `event`."""
        while (client := self._client) is not None:
            await asyncio.sleep(_PROBE_SECONDS)
            try:
                async with asyncio.timeout(min(1.0, self.operation_timeout_seconds)):
                    await client.ping()
            except (RedisError, OSError):
                continue
            event.set()
            return

    async def _call_retrying(
        self,
        what: str,
        operation: Callable[[Redis], Awaitable[T]],
        *,
        give_up_after: float | None = None,
        batched: bool = False,
    ) -> T:
        """`_call`, retried with backoff (0.5 s → 30 s) while Redis is unreachable."""
        backoff: Backoff | None = None
        started = time.monotonic()
        while True:
            try:
                result = await self._call(what, operation, batched=batched)
            except QueueUnavailableError as exc:
                self.stats.note_failure(exc, what)
                back_online = self.outage()
                backoff = backoff or redis_backoff()
                delay = backoff.next_delay()
                if give_up_after is not None and time.monotonic() - started + delay > give_up_after:
                    raise
                await self.wait_back_online(back_online, delay)
                continue
            if self.stats.consecutive_failures:
                self.stats.note_success()
            return result

    # ------------------------------------------------------------------ publishing
    async def publish(
        self, queue: str, message: QueueMessage, *, dedupe_scope: str | None = None, force: bool = False
    ) -> PublishStatus:
        """Append `message`; inside `dedupe_scope` a repeated `(queue, message.id)` is a `DUPLICATE`.

        One Lua script: record the id in `factflow:{<scope>}:_dedupe`, `XADD` only if new. `force`
        skips the check (the id is still recorded). Retries while Redis is unreachable; a retry
        whose earlier attempt landed (its reply lost) reports `PUBLISHED`, never a duplicate.
        """
        statuses = await self._publish(queue, [message], dedupe_scope=dedupe_scope, force=force)
        return statuses[0]

    async def publish_batch(
        self, queue: str, messages: Sequence[QueueMessage], *, dedupe_scope: str | None = None
    ) -> list[PublishStatus]:
        """`publish` for each message in one pipeline; one status per message, in order."""
        if not messages:
            return []
        return await self._publish(queue, messages, dedupe_scope=dedupe_scope, force=False)

    async def _publish(
        self, queue: str, messages: Sequence[QueueMessage], *, dedupe_scope: str | None, force: bool
    ) -> list[PublishStatus]:
        self._require_client()
        script = self._publish_script
        assert script is not None
        keys = [queue] if dedupe_scope is None else [queue, dedupe_key(dedupe_scope)]
        calls: list[tuple[list[str], list[Any]]] = [
            (
                keys,
                [
                    message.id,
                    message.encode(),
                    "" if dedupe_scope is None else dedupe_member(queue, message.id, dedupe_scope),
                    "1" if force else "0",
                    f"{self.boot_id}:{next(self._publish_tokens)}",
                ],
            )
            for message in messages
        ]

        async def run(client: Redis) -> list[Any]:
            # Concurrent publishes (and acks) share pipelines: see `CommandBatcher`.
            if len(calls) == 1:
                return [await self._run_script(script, *calls[0])]
            return list(await asyncio.gather(*(self._run_script(script, *call) for call in calls)))

        replies = await self._call_retrying(
            f"publishing to {queue!r}", run, give_up_after=self.publish_timeout_seconds, batched=True
        )
        return [PublishStatus.DUPLICATE if reply is None else PublishStatus.PUBLISHED for reply in replies]

    # ------------------------------------------------------------------ consuming
    async def subscribe(
        self,
        queue: str,
        subscription: str,
        handler: MessageHandler,
        *,
        prefetch: int,
        dead_letter_queue: str,
        on_dead_letter: DeadLetterCallback | None = None,
        on_lost_state: LostStateCallback | None = None,
        on_settled: SettledCallback | None = None,
    ) -> RedisSubscription:
        """Create the group (`XGROUP CREATE … 0 MKSTREAM`), claim dead consumers' entries, start reading.

        See `QueueProtocol.subscribe`. `on_lost_state` is called when the stream or group later
        vanishes (`NOGROUP`, e.g. Redis restarted without persistence) and was recreated empty.

        Raises:
            QueueUnavailableError: Redis is unreachable (one attempt).
            QueueError: not connected, or this provider already runs a subscription for the group.
        """
        key = (queue, subscription)
        if key in self._subscriptions:
            raise QueueError(f"Subscription {subscription!r} on {queue!r} is already running.")
        running = RedisSubscription(
            self,
            consumer=self.consumer_name,
            queue=queue,
            subscription=subscription,
            handler=handler,
            prefetch=prefetch,
            dead_letter_queue=dead_letter_queue,
            on_dead_letter=on_dead_letter,
            on_lost_state=on_lost_state,
            on_settled=on_settled,
            stats=self.stats,
            on_stopped=self._forget,
        )
        await self._ensure_group(queue, subscription)
        await self._claim_from_dead_consumers(queue, subscription)
        if key in self._subscriptions:  # a concurrent subscribe won
            raise QueueError(f"Subscription {subscription!r} on {queue!r} is already running.")
        self._subscriptions[key] = running
        running.start()
        return running

    def set_live_consumers(self, live: Callable[[], Awaitable[set[str]]] | None) -> None:
        """Name the consumers that are alive (the worker registry) once several processes share groups.

        Without it every other consumer of a group is taken for an earlier boot of this process and
        its pending entries are claimed at subscribe. With it only consumers `live` does not list
        are; a live consumer's entries stay with it (a dead one's that is still listed wait for the
        reclaim, once idle past the visibility timeout).
        """
        self._live_consumers = live

    def _forget(self, subscription: BaseSubscription[Any]) -> None:
        key = (subscription.queue, subscription.subscription)
        if self._subscriptions.get(key) is subscription:
            del self._subscriptions[key]

    async def _ensure_group(self, queue: str, group: str) -> None:
        """`XGROUP CREATE <queue> <group> 0 MKSTREAM`, ignoring `BUSYGROUP`."""

        async def create(client: Redis) -> None:
            try:
                await client.xgroup_create(queue, group, id="0", mkstream=True)
            except ResponseError as exc:
                if not str(exc).startswith("BUSYGROUP"):
                    raise

        await self._call(f"creating group {group!r} on {queue!r}", create)

    async def _claim_from_dead_consumers(self, queue: str, group: str) -> None:
        """Move every pending entry of the group to this consumer, due for reclaim at once.

        `XCLAIM … IDLE <timeout> JUSTID` keeps the delivery count and back-dates the idle time, so
        the reader's first `XAUTOCLAIM` hands them over with their count + 1. The other consumers
        (earlier boots) are then removed.
        """
        me = self.consumer_name
        consumers = await self._call("listing consumers", lambda client: client.xinfo_consumers(queue, group))
        live: set[str] = set()
        if self._live_consumers is not None and any(text(row["name"]) != me for row in consumers):
            live = await self._live_consumers()
        claimed = 0
        removed = 0
        for row in consumers:
            name = text(row["name"])
            if name in live and name != me:
                continue  # another live worker of the group: its entries are its own
            if int(row.get("pending", 0)):
                claimed += await self._claim_pending_of(queue, group, name)
            if name != me:

                async def delete(client: Redis, name: str = name) -> Any:
                    return await client.xgroup_delconsumer(queue, group, name)

                await self._call("removing a dead consumer", delete)
                removed += 1
        if claimed or removed:
            # Ownership only: the subscription's reclaim pass then redelivers them (and logs that).
            logger.info(
                "Took over %d unacknowledged entries on %r from %d earlier consumer(s) of %r (redelivered next)",
                claimed,
                queue,
                removed,
                group,
            )

    async def _claim_pending_of(self, queue: str, group: str, owner: str) -> int:
        idle_ms = max(1, int(self.visibility_timeout_seconds * 1000))
        start = "-"
        claimed = 0
        while True:

            async def pending(client: Redis, start: str = start) -> Any:
                return await client.xpending_range(
                    queue, group, min=start, max="+", count=_CLAIM_BATCH, consumername=owner
                )

            rows = await self._call("listing pending entries", pending)
            entry_ids = [text(row["message_id"]) for row in rows]
            if not entry_ids:
                return claimed

            async def claim(client: Redis, entry_ids: list[Any] = entry_ids) -> Any:
                return await client.xclaim(queue, group, self.consumer_name, 0, entry_ids, idle=idle_ms, justid=True)

            await self._call("claiming pending entries", claim)
            claimed += len(entry_ids)
            if len(entry_ids) < _CLAIM_BATCH:
                return claimed
            start = f"({entry_ids[-1]}"

    # ------------------------------------------------------------------ inspection and cleanup
    async def depth(self, queue: str, subscription: str) -> QueueDepth:
        """`ready` (the group's `lag`), `pending` and `settled` (`entries-read − pending`) from `XINFO GROUPS`."""

        async def groups(client: Redis) -> list[dict[str, Any]] | None:
            try:
                return list(await client.xinfo_groups(queue))
            except ResponseError as exc:
                if "no such key" in str(exc).lower():
                    return None
                raise

        rows = await self._call(f"reading the depth of {queue!r}", groups)
        if rows is None:
            return QueueDepth(ready=0, pending=0)
        for row in rows:
            if text(row["name"]) == subscription:
                lag = row.get("lag")
                ready = int(lag) if lag is not None else await self._count_after(queue, text(row["last-delivered-id"]))
                pending = int(row["pending"])
                read = row.get("entries-read")
                if read is None:  # Redis cannot say: every entry not ready was read (streams are never trimmed)
                    read = int(await self._call(f"reading the length of {queue!r}", lambda client: client.xlen(queue)))
                    read -= ready
                return QueueDepth(ready=ready, pending=pending, settled=max(0, int(read) - pending))
        length = await self._call(f"reading the length of {queue!r}", lambda client: client.xlen(queue))
        return QueueDepth(ready=int(length), pending=0)

    async def _count_after(self, queue: str, last_id: str) -> int:
        """Entries after `last_id`, for the rare group whose `lag` Redis cannot compute."""
        count = 0
        start = f"({last_id}"
        while True:

            async def page(client: Redis, start: str = start) -> Any:
                return await client.xrange(queue, min=start, max="+", count=_SCAN_COUNT)

            rows = await self._call("counting ready entries", page)
            count += len(rows)
            if len(rows) < _SCAN_COUNT:
                return count
            start = f"({text(rows[-1][0])}"

    async def purge_prefix(self, prefix: str) -> int:
        """`SCAN MATCH <prefix>*` then `UNLINK`: every queue and dedupe set under `prefix`; returns how many."""
        for subscription in self._subscriptions.values():
            if subscription.queue.startswith(prefix):
                subscription.expect_missing()
        pattern = glob_escape(prefix) + "*"
        cursor = 0
        deleted = 0
        while True:

            async def scan(client: Redis, cursor: int = cursor) -> Any:
                return await client.scan(cursor=cursor, match=pattern, count=_SCAN_COUNT)

            cursor, keys = await self._call(f"scanning {prefix!r}", scan)
            if keys:

                async def unlink(client: Redis, keys: list[bytes] = keys) -> Any:
                    return await client.unlink(*keys)

                deleted += int(await self._call(f"purging {prefix!r}", unlink))
            if int(cursor) == 0:
                return deleted

    async def delete_queues(self, queues: Sequence[str]) -> int:
        """`UNLINK` exactly these streams (not the dedupe sets); returns how many existed."""
        names = list(dict.fromkeys(queues))
        if not names:
            return 0
        for subscription in self._subscriptions.values():
            if subscription.queue in names:
                subscription.expect_missing()
        return int(await self._call("deleting queues", lambda client: client.unlink(*names)))

    async def health(self) -> QueueHealth:
        """`PING` (2 s) plus the reader and outage bookkeeping.

        `health_state`: `healthy`; `reconnecting` while Redis does not answer; `degraded` before
        `connect()` or while calls still fail; `stalled` when a reader task died.
        """
        active = list(self._subscriptions.values())
        connected = False
        message: str | None = None
        state: Literal["healthy", "degraded", "stalled", "reconnecting"]
        if self._client is None:
            state, message = "degraded", "not connected"
        else:
            try:
                await self._call(
                    "checking health",
                    lambda client: client.ping(),
                    limit_seconds=min(2.0, self.operation_timeout_seconds),
                )
                connected = True
            except QueueUnavailableError as exc:
                message = str(exc)
            except QueueError as exc:
                connected, message = True, str(exc)
            if not connected:
                state = "reconnecting"
            elif any(not subscription.reader_alive for subscription in active):
                state, message = "stalled", "a subscription reader ended unexpectedly"
            elif self.stats.consecutive_failures:
                state, message = "degraded", self.stats.last_error
            else:
                state = "healthy"
        details = self.stats.details(
            provider="redis",
            connected=connected,
            health_state=state,
            active_subscriptions=len(active),
            pending_total=sum(subscription.outstanding() for subscription in active),
            consumer=self.consumer_name,
        )
        return QueueHealth(provider="redis", connected=connected, health_state=state, message=message, details=details)

    # ------------------------------------------------------------------ tests
    async def _append_raw(self, queue: str, fields: dict[str, bytes]) -> None:
        """`XADD` an entry with arbitrary fields (tests: undecodable entries)."""
        entry: dict[Any, Any] = dict(fields)

        async def append(client: Redis) -> Any:
            return await client.xadd(queue, entry)

        await self._call("appending a raw entry", append)
