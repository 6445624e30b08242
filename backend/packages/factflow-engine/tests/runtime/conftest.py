"""Fixtures of the runtime tests: the queue's shared state on the test's own Redis database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from factflow_infra.queue import RedisSharedState, RedisStreamsQueueProvider
from factflow_infra.testing.plugin import redis_db, redis_url

__all__ = ("Streams", "redis_db", "redis_url", "shared_state", "streams")


@pytest.fixture
async def shared_state(redis_url: str) -> AsyncIterator[RedisSharedState]:
    """`RedisSharedState` over a connected provider (an execution's cross-process state)."""
    provider = RedisStreamsQueueProvider(redis_url, consumer="leader")
    await provider.connect()
    try:
        yield RedisSharedState(provider)
    finally:
        await provider.close()


class Streams:
    """Shapes streams and groups the way processes do, or loses them as a Redis restart does."""

    def __init__(self, client: Redis) -> None:
        self._client = client

    async def entries(self, queue: str, group: str, *, added: int, read: int = 0, acked: int = 0) -> None:
        """`added` entries in `queue`, of which `group` read `read` and settled `acked`."""
        client = self._client
        await client.xgroup_create(queue, group, id="0", mkstream=True)
        for n in range(added):
            await client.xadd(queue, {"n": n})
        if read:
            delivered: Any = await client.xreadgroup(group, "c", {queue: ">"}, count=read)  # [[stream, entries]]
            ids: list[bytes] = [entry_id for entry_id, _ in delivered[0][1]]
            for entry_id in ids[:acked]:
                await client.xack(queue, group, entry_id)

    async def dead_letter(self, queue: str) -> None:
        await self._client.xadd(queue, {"n": 0})

    async def lose_state(self) -> None:
        """Redis restarted without persistence: every stream, group and mark is gone."""
        await self._client.flushdb()


@pytest.fixture
async def streams(redis_url: str) -> AsyncIterator[Streams]:
    client = Redis.from_url(redis_url)
    try:
        yield Streams(client)
    finally:
        await client.aclose()
