"""`RedisRequestRelay`: a standby's request reaches the leader and its answer comes back; without
a leader the sender times out, and the leader drops what its sender already gave up on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio

from factflow_infra.testing import _queue as queue_fixtures
from factflow_infra.workers import RedisRequestRelay

redis_db = queue_fixtures.redis_db
redis_url = queue_fixtures.redis_url

pytestmark = pytest.mark.redis


@pytest.fixture
async def relays(redis_url: str) -> AsyncIterator[tuple[RedisRequestRelay, RedisRequestRelay]]:
    standby, leader = RedisRequestRelay.from_url(redis_url), RedisRequestRelay.from_url(redis_url)
    try:
        yield standby, leader
    finally:
        await standby.close()
        await leader.close()


async def test_the_leader_answers_a_relayed_request(relays: tuple[RedisRequestRelay, RedisRequestRelay]) -> None:
    standby, leader = relays
    seen: list[dict[str, Any]] = []

    async def handle(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return {"status": 201, "echo": request["path"]}

    leader.serve(handle)
    reply = await standby.submit({"path": "/api/v1/executions"}, timeout_seconds=10)

    assert reply == {"status": 201, "echo": "/api/v1/executions"}
    assert len(seen) == 1 and seen[0]["request_id"] and seen[0]["deadline"] > 0


async def test_without_a_leader_the_sender_times_out_and_a_late_leader_drops_the_request(
    relays: tuple[RedisRequestRelay, RedisRequestRelay], redis_url: str
) -> None:
    standby, leader = relays
    assert await standby.submit({"path": "/late"}, timeout_seconds=1) is None
    handled: list[dict[str, Any]] = []

    async def handle(request: dict[str, Any]) -> dict[str, Any]:
        handled.append(request)
        return {"status": 200}

    leader.serve(handle)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        for _ in range(100):  # the stale request is popped and dropped
            if not await client.llen("{factflow:relay}:requests"):
                break
            await asyncio.sleep(0.05)
        assert not await client.llen("{factflow:relay}:requests")
    finally:
        await client.aclose()
    assert handled == []
    # A fresh request still goes through.
    assert await standby.submit({"path": "/fresh"}, timeout_seconds=10) == {"status": 200}
    assert [request["path"] for request in handled] == ["/fresh"]
