"""`RedisEventChannel`: live events of the executions a process runs, for the streams other servers hold open.

Event streams are served by whichever server a client reaches, but an execution's events happen
where its routes run: on the leader, and on worker processes for the stages they run. Every
server announces which executions its open streams watch (`watching`); every process publishes
the events of those executions — and only those — on one Redis pub/sub channel, and the servers
deliver the others' events to their streams. Nobody watching costs a publisher one set lookup per
event.

The watch list is a sorted set of `<sender> US <execution id>` members (US: the unit separator)
scored with their expiry (Redis's clock), refreshed every `WATCH_REFRESH_SECONDS`; a server whose
stream begins watching an execution also announces it on the channel at once, so its events flow
within milliseconds. Publishes leave in batches, one pipeline every `PUBLISH_INTERVAL_SECONDS`.
Pub/sub delivers at most once: a server cut from Redis misses what was published meanwhile (its
streams' snapshots, refreshed after a gap, and their reading of the stored status make up for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Any, Final

import msgpack
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..errors import UnsupportedProviderUrlError
from ..queue._redis_support import mask_url

__all__ = ("PUBLISH_INTERVAL_SECONDS", "WATCH_REFRESH_SECONDS", "EventReceiver", "RedisEventChannel")

logger = logging.getLogger(__name__)

WATCH_REFRESH_SECONDS: Final = 1.0
"""How often a process announces what it watches and reads what the others watch."""
_WATCH_TTL_SECONDS: Final = 5.0
"""A watch not renewed this long (its server gone) lapses."""
PUBLISH_INTERVAL_SECONDS: Final = 0.05
"""How long an event waits to leave with the next batch."""
_MAX_PENDING: Final = 10_000
"""Events held while Redis is slow; beyond, the oldest are dropped (streams resync by snapshot)."""
_RETRY_SECONDS: Final = 1.0
_SEPARATOR: Final = "\x1f"

# Renews this process's watches, drops lapsed ones and returns every live one, on Redis's clock.
_WATCH_SCRIPT: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""

EventReceiver = Callable[[str, str, str, dict[str, Any]], None]
"""Takes one event of another process: execution id, event id, event name, data (on the loop)."""

Watching = Callable[[], Collection[str]]
"""The executions this server's open streams watch now."""


class RedisEventChannel:
    """Publishes the events others watch and receives theirs (see the module docstring).

    Args:
        redis: A client on the queue's Redis (closed by `close()` only when made by `from_url`).
        sender: This process's name; its own messages and watches are not received back.
        channel: The pub/sub channel; by default `factflow:events:<database number>` (pub/sub
            ignores database numbers: deployments on other databases of one Redis keep apart).
    """

    def __init__(self, redis: Redis, *, sender: str, channel: str | None = None) -> None:
        self._redis = redis
        self._owns_client = False
        self._sender = sender
        self._channel = channel or f"factflow:events:{redis.connection_pool.connection_kwargs.get('db', 0)}"
        self._watch_key = f"{self._channel}:watched"
        self._wanted: frozenset[str] = frozenset()
        """Executions another process's streams watch, as last read."""
        self._watch_now = asyncio.Event()
        self._announced: frozenset[str] = frozenset()
        self._pending: list[bytes] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped_total = 0
        """Events not published: held past the bound while Redis was slow, or lost with a failed batch."""

    @classmethod
    def from_url(cls, url: str, *, sender: str, **options: Any) -> RedisEventChannel:
        """A channel on its own client for `url`; `close()` closes it.

        Raises:
            UnsupportedProviderUrlError: the URL is malformed.
        """
        try:
            client = Redis.from_url(url, protocol=2, socket_connect_timeout=5.0, client_name="factflow:events")
        except ValueError as exc:
            raise UnsupportedProviderUrlError(f"Invalid Redis URL {mask_url(url)!r}: {exc}") from exc
        channel = cls(client, sender=sender, **options)
        channel._owns_client = True
        return channel

    def wants(self, execution_id: str) -> bool:
        """Whether another process's stream watches `execution_id` (its events are worth publishing)."""
        return execution_id in self._wanted

    def offer(self, execution_id: str, event_id: str, name: str, data: dict[str, Any]) -> None:
        """Queue one event for the others, if another process watches its execution; never blocks or raises."""
        if execution_id not in self._wanted:
            return
        try:
            message = msgpack.packb(
                {"s": self._sender, "e": execution_id, "i": event_id, "n": name, "d": data}, default=str
            )
        except (TypeError, ValueError):
            logger.warning("event %r of execution %s could not be packed for other servers", name, execution_id)
            return
        if len(self._pending) >= _MAX_PENDING:
            del self._pending[0]
            self.dropped_total += 1
        self._pending.append(message)
        self._wake.set()

    def start(self, receiver: EventReceiver | None = None, watching: Watching | None = None) -> None:
        """Publish what others watch; idempotent.

        With `receiver`, also receive the others' events of what `watching` names (a server's streams).
        """
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._exchange_watches(watching), name="events:watches"),
            loop.create_task(self._publish(), name="events:publish"),
            loop.create_task(self._listen(receiver), name="events:listen"),
        ]

    def watch_changed(self) -> None:
        """A stream began watching an execution: announce it now rather than at the next refresh."""
        self._watch_now.set()

    async def _exchange_watches(self, watching: Watching | None) -> None:
        own = self._sender + _SEPARATOR
        failing = False
        while True:
            members = [own + execution_id for execution_id in (watching() if watching is not None else ())]
            try:
                live = await self._redis.eval(_WATCH_SCRIPT, 1, self._watch_key, _WATCH_TTL_SECONDS, *members)
                failing = False
            except (RedisError, OSError) as exc:
                if not failing:
                    logger.warning("watched executions cannot be exchanged with other servers, retrying: %s", exc)
                failing = True
                live = []
            wanted = set()
            for member in live:
                text = member.decode() if isinstance(member, bytes) else str(member)
                if not text.startswith(own):
                    wanted.add(text.rpartition(_SEPARATOR)[2])
            self._wanted = frozenset(wanted)
            await self._announce({member[len(own) :] for member in members})
            self._watch_now.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WATCH_REFRESH_SECONDS):
                    await self._watch_now.wait()

    async def _announce(self, watched: set[str]) -> None:
        """Tell the others at once about executions this process began to watch (they add them to their wants)."""
        new = watched - self._announced
        self._announced = frozenset(watched)
        if not new:
            return
        with contextlib.suppress(RedisError, OSError):  # the next refresh carries them anyway
            await self._redis.publish(self._channel, msgpack.packb({"s": self._sender, "w": sorted(new)}))

    async def _listen(self, receiver: EventReceiver | None) -> None:
        failing = False
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    failing = False
                    while True:
                        message = await pubsub.get_message(timeout=_RETRY_SECONDS)
                        if message is not None and message.get("type") == "message":
                            self._receive(receiver, message["data"])
            except (RedisError, OSError) as exc:
                if not failing:
                    logger.warning("events of other servers cannot be received, retrying: %s", exc)
                failing = True
                await asyncio.sleep(_RETRY_SECONDS)

    def _receive(self, receiver: EventReceiver | None, raw: bytes) -> None:
        try:
            message = msgpack.unpackb(raw)
            if message["s"] == self._sender:
                return
            if "w" in message:
                self._wanted = self._wanted | {str(execution_id) for execution_id in message["w"]}
            elif receiver is not None:
                receiver(str(message["e"]), str(message["i"]), str(message["n"]), dict(message["d"]))
        except Exception:  # one bad message never stops the others
            logger.exception("dropped an event of another server")

    async def _publish(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(PUBLISH_INTERVAL_SECONDS)
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for message in batch:
                        pipe.publish(self._channel, message)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self.dropped_total += len(batch)
                logger.warning("%d event(s) could not be published for other servers: %s", len(batch), exc)

    async def close(self) -> None:
        """Stop listening and publishing, and close an owned client; idempotent."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._owns_client:
            self._owns_client = False
            await self._redis.aclose()
