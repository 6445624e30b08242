"""`RedisRequestRelay`: a standby's request reaches the leader and its answer comes back; without
a leader the sender times out, and the leader drops what its sender already gave up on; a request
the leader took is awaited past the timeout, and one it took and never answered is reported as
possibly carried out."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio

from factflow_infra.testing import _queue as queue_fixtures
from factflow_infra.workers import RedisRequestRelay, RelayUnansweredError

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


async def test_a_request_the_leader_took_is_awaited_past_the_timeout(redis_url: str) -> None:
    """A slow answer to a request the leader took is not reported as a failure (the write happens).

    The answer takes longer than redis-py's default socket timeout (5 s): a relayed wait blocks
    for as long as its own timeout.
    """
    standby, leader = RedisRequestRelay.from_url(redis_url), RedisRequestRelay.from_url(redis_url)

    async def slow(request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(6.5)
        return {"status": 201}

    leader.serve(slow)
    try:
        assert await standby.submit({"path": "/slow"}, timeout_seconds=1) == {"status": 201}
    finally:
        await standby.close()
        await leader.close()


async def test_a_request_the_leader_took_and_never_answered_is_reported_as_unknown(redis_url: str) -> None:
    standby = RedisRequestRelay.from_url(redis_url, taken_grace_seconds=1)
    leader = RedisRequestRelay.from_url(redis_url)
    taken = asyncio.Event()

    async def hang(request: dict[str, Any]) -> dict[str, Any]:
        taken.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    leader.serve(hang)
    try:
        with pytest.raises(RelayUnansweredError, match="took the request"):
            await standby.submit({"path": "/hang"}, timeout_seconds=1)
        assert taken.is_set()
    finally:
        await standby.close()
        for task in list(leader._handlers):  # the hanging answer would hold `close()` forever
            task.cancel()
        await leader.close()


async def test_a_request_its_sender_abandoned_is_not_run_even_before_its_deadline(redis_url: str) -> None:
    """The claim decides: a request whose sender gave up first never runs, whatever its deadline says."""
    client = redis.asyncio.Redis.from_url(redis_url)
    leader = RedisRequestRelay.from_url(redis_url)
    handled: list[dict[str, Any]] = []

    async def handle(request: dict[str, Any]) -> dict[str, Any]:
        handled.append(request)
        return {"status": 200}

    try:
        # A sender whose clock runs behind the leader's gave up (set its claim) while the
        # deadline it wrote is still ahead.
        envelope = {"path": "/abandoned", "request_id": "r-abandoned", "deadline": time.time() + 60}
        await client.set("{factflow:relay}:claim:r-abandoned", "abandoned")
        await client.rpush("{factflow:relay}:requests", json.dumps(envelope))
        leader.serve(handle)
        for _ in range(100):
            if not await client.llen("{factflow:relay}:requests"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert handled == []
        assert await client.get("{factflow:relay}:claim:r-abandoned") == b"abandoned"
    finally:
        await leader.close()
        await client.aclose()
