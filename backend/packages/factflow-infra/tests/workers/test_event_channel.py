"""`RedisEventChannel`: one server's events reach the others (not itself), in order, and nothing is
published while no other server listens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from factflow_infra.testing import _queue as queue_fixtures
from factflow_infra.workers import RedisEventChannel

redis_db = queue_fixtures.redis_db
redis_url = queue_fixtures.redis_url

pytestmark = pytest.mark.redis

Received = list[tuple[str, str, str, dict[str, Any]]]


async def _eventually(condition: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(15):
        while not condition():  # noqa: ASYNC110  # another connection's state
            await asyncio.sleep(0.05)
    assert condition(), what


@pytest.fixture
async def channels(redis_url: str) -> AsyncIterator[tuple[RedisEventChannel, RedisEventChannel]]:
    leader = RedisEventChannel.from_url(redis_url, sender="leader")
    standby = RedisEventChannel.from_url(redis_url, sender="standby")
    try:
        yield leader, standby
    finally:
        await leader.close()
        await standby.close()


async def test_only_events_another_server_watches_are_published_and_they_arrive_in_order(
    channels: tuple[RedisEventChannel, RedisEventChannel],
) -> None:
    leader, standby = channels
    at_leader: Received = []
    at_standby: Received = []
    watched: set[str] = set()
    leader.start(lambda *event: at_leader.append(event), watching=lambda: {"e1"})  # its own streams
    standby.start(lambda *event: at_standby.append(event), watching=lambda: watched)
    leader.offer("e1", "0001", "stage.completed", {"entry_id": "unwatched"})  # only the leader watches e1
    watched.add("e1")  # a stream opens on the standby
    await _eventually(lambda: leader.wants("e1"), "the leader never saw the standby watch e1")
    assert not leader.wants("e2")  # nobody watches e2
    await _eventually(lambda: standby.wants("e1"), "the standby never saw the leader's own stream of e1")

    for number in range(1, 4):
        leader.offer("e1", f"000{number + 1}", "execution.progress", {"handled": number, "when": object()})
    leader.offer("e2", "0005", "stage.completed", {"entry_id": "unwatched"})
    await _eventually(lambda: len(at_standby) == 3, f"the standby received {at_standby}")

    assert [(execution_id, event_id, name) for execution_id, event_id, name, _ in at_standby] == [
        ("e1", "0002", "execution.progress"),
        ("e1", "0003", "execution.progress"),
        ("e1", "0004", "execution.progress"),
    ]
    assert [data["handled"] for *_, data in at_standby] == [1, 2, 3]
    assert isinstance(at_standby[0][3]["when"], str)  # what msgpack cannot carry travels as text
    assert at_leader == [] and leader.dropped_total == 0

    watched.clear()  # the stream closed: the watch lapses once no longer renewed
    await _eventually(lambda: not leader.wants("e1"), "the standby's watch never lapsed")
