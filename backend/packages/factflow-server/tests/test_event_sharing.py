"""`WorkerEventSink`: a worker's stage events reach the server whose stream watches them, stamped once."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from factflow_infra.testing import wait_until
from factflow_infra.testing.plugin import redis_db, redis_url
from factflow_infra.workers import RedisEventChannel
from factflow_protocols import ExecutionProgress, StageChanged
from factflow_server._event_sharing import WorkerEventSink

__all__ = ("redis_db", "redis_url")

pytestmark = pytest.mark.redis


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


async def test_only_watched_stage_events_leave_with_increasing_ids_and_the_standard_fields(redis_url: str) -> None:
    received: list[tuple[str, str, str, dict[str, Any]]] = []
    async with contextlib.AsyncExitStack() as stack:
        server = RedisEventChannel.from_url(redis_url, sender="server")  # its stream watches e1
        stack.push_async_callback(server.close)
        worker = RedisEventChannel.from_url(redis_url, sender="worker")
        stack.push_async_callback(worker.close)
        server.start(lambda *event: received.append(event), watching=lambda: {"e1"})
        worker.start(lambda *event: None, watching=frozenset)
        await wait_until(lambda: worker.wants("e1"), within=15, what="the worker saw the server watch e1")
        sink = WorkerEventSink(worker)

        sink.emit("e2", _stage("completed", "unwatched"))
        sink.emit("e1", ExecutionProgress(1, 1, 0, 0, 1, 0))  # the server counts progress itself
        sink.emit("e1", _stage("processing", "r1"))
        sink.emit("e1", _stage("completed", "r2"))
        await wait_until(lambda: len(received) >= 2, within=15, what="the server received both stage events")

    assert [(execution_id, name) for execution_id, _, name, _ in received] == [
        ("e1", "stage.processing"),
        ("e1", "stage.completed"),
    ]
    first, second = (event_id for _, event_id, _, _ in received)
    assert first < second
    data = received[1][3]
    assert (data["type"], data["execution_id"], data["entry_id"]) == ("stage.completed", "e1", "r2")
    assert data["timestamp"]
