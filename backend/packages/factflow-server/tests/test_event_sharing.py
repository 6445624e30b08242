"""`WorkerEventSink`: a worker's stage events reach the server whose stream watches them, stamped once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from factflow_infra.testing.plugin import redis_db, redis_url
from factflow_infra.workers import RedisEventChannel
from factflow_protocols import ExecutionProgress, StageChanged
from factflow_server._event_sharing import WorkerEventSink

__all__ = ("redis_db", "redis_url")

pytestmark = pytest.mark.redis

Received = list[tuple[str, str, str, dict[str, Any]]]


async def _eventually(condition: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(15):
        while not condition():  # noqa: ASYNC110  # another connection's state
            await asyncio.sleep(0.05)


@pytest.fixture
async def channels(redis_url: str) -> AsyncIterator[tuple[RedisEventChannel, RedisEventChannel]]:
    server = RedisEventChannel.from_url(redis_url, sender="server")
    worker = RedisEventChannel.from_url(redis_url, sender="worker")
    try:
        yield server, worker
    finally:
        await server.close()
        await worker.close()


def _stage(status: str, entry_id: str) -> StageChanged:
    return StageChanged(
        entry_id=entry_id,
        correlation_id="m1",
        parent_correlation_id=None,
        route_id="work",
        adapter_name="delay",
        adapter_index=0,
        stage_name="delay",
        stage_status=status,
        duration_ms=None,
        delivery_count=1,
        storage_key=None,
        error_info=None,
    )


async def test_only_watched_stage_events_leave_with_increasing_ids_and_the_standard_fields(
    channels: tuple[RedisEventChannel, RedisEventChannel],
) -> None:
    server, worker = channels
    received: Received = []
    server.start(lambda *event: received.append(event), watching=lambda: {"e1"})
    worker.start(lambda *event: None, watching=frozenset)
    await _eventually(lambda: worker.wants("e1"), "the worker never saw the server watch e1")
    sink = WorkerEventSink(worker)

    sink.emit("e2", _stage("completed", "unwatched"))
    sink.emit("e1", ExecutionProgress(1, 1, 0, 0, 1, 0))  # the server counts progress itself
    sink.emit("e1", _stage("processing", "r1"))
    sink.emit("e1", _stage("completed", "r2"))
    await _eventually(lambda: len(received) >= 2, f"the server received {received}")

    assert [(execution_id, name) for execution_id, _, name, _ in received] == [
        ("e1", "stage.processing"),
        ("e1", "stage.completed"),
    ]
    first, second = (event_id for _, event_id, _, _ in received)
    assert first < second
    data = received[1][3]
    assert (data["type"], data["execution_id"], data["entry_id"]) == ("stage.completed", "e1", "r2")
    assert data["timestamp"]
