"""`RedisEventChannel`: the live events of one server's executions, for the other servers' streams.

Every server of a deployment publishes the events its hub delivers (the executions it runs) on
one Redis pub/sub channel and listens there for the others', so an event stream opened on a
standby carries the leader's live events. A server publishes only while another one listens
(`PUBSUB NUMSUB`, read every `LISTENERS_REFRESH_SECONDS`): a server alone pays one comparison per
event. Publishes leave in batches, one pipeline every `PUBLISH_INTERVAL_SECONDS`.

Pub/sub delivers at most once: a server cut from Redis misses what was published meanwhile (its
streams' snapshots, refreshed after a gap, and their reading of the stored status make up for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

import msgpack
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..errors import UnsupportedProviderUrlError
from ..queue._redis_support import mask_url

__all__ = ("LISTENERS_REFRESH_SECONDS", "PUBLISH_INTERVAL_SECONDS", "EventReceiver", "RedisEventChannel")

logger = logging.getLogger(__name__)

LISTENERS_REFRESH_SECONDS: Final = 2.0
"""How often a server reads how many others listen (publishing starts at most this late)."""
PUBLISH_INTERVAL_SECONDS: Final = 0.05
"""How long an event waits to leave with the next batch."""
_MAX_PENDING: Final = 10_000
"""Events held while Redis is slow; beyond, the oldest are dropped (streams resync by snapshot)."""
_RETRY_SECONDS: Final = 1.0

EventReceiver = Callable[[str, str, str, dict[str, Any]], None]
"""Takes one event of another server: execution id, event id, event name, data (on the loop)."""


class RedisEventChannel:
    """Publishes this server's events and receives the others' (see the module docstring).

    Args:
        redis: A client on the queue's Redis (closed by `close()` only when made by `from_url`).
        sender: This server's name; its own messages are not received back.
        channel: The pub/sub channel; by default `factflow:events:<database number>`.
    """

    def __init__(self, redis: Redis, *, sender: str, channel: str | None = None) -> None:
        self._redis = redis
        self._owns_client = False
        self._sender = sender
        # Pub/sub ignores the database number: deployments on other databases of one Redis keep apart.
        self._channel = channel or f"factflow:events:{redis.connection_pool.connection_kwargs.get('db', 0)}"
        self._others = 0
        """Other servers listening, as last read."""
        self._subscribed = False
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

    @property
    def others_listening(self) -> int:
        """Other servers listening, as last read."""
        return self._others

    def offer(self, execution_id: str, event_id: str, name: str, data: dict[str, Any]) -> None:
        """Queue one event for the others, if any listens; never blocks or raises."""
        if self._others <= 0:
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

    def start(self, receiver: EventReceiver) -> None:
        """Listen for the others' events (handed to `receiver`) and publish ours; idempotent."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(receiver), name="events:listen"),
            loop.create_task(self._count_listeners(), name="events:listeners"),
            loop.create_task(self._publish(), name="events:publish"),
        ]

    async def _listen(self, receiver: EventReceiver) -> None:
        failing = False
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed, failing = True, False
                    while True:
                        message = await pubsub.get_message(timeout=_RETRY_SECONDS)
                        if message is not None and message.get("type") == "message":
                            self._receive(receiver, message["data"])
            except (RedisError, OSError) as exc:
                self._subscribed = False
                if not failing:
                    logger.warning("events of other servers cannot be received, retrying: %s", exc)
                failing = True
                await asyncio.sleep(_RETRY_SECONDS)

    def _receive(self, receiver: EventReceiver, raw: bytes) -> None:
        try:
            message = msgpack.unpackb(raw)
            if message["s"] == self._sender:
                return
            receiver(str(message["e"]), str(message["i"]), str(message["n"]), dict(message["d"]))
        except Exception:  # one bad message never stops the others
            logger.exception("dropped an event of another server")

    async def _count_listeners(self) -> None:
        while True:
            try:
                counts = await self._redis.pubsub_numsub(self._channel)
                listening = int(counts[0][1]) if counts else 0
                self._others = max(listening - (1 if self._subscribed else 0), 0)
            except (RedisError, OSError):
                self._others = 0  # nothing can be published meanwhile anyway
            await asyncio.sleep(LISTENERS_REFRESH_SECONDS)

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
