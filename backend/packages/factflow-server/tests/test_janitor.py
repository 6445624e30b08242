"""The queue janitor over a real memory queue and a migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_engine.config import ConfigSnapshot
from factflow_engine.runtime import scoped_queue_name
from factflow_execution import (
    ConfigSourceType,
    ExecutionStatus,
    PipelineExecution,
    PipelineExecutionRepository,
    StoredSnapshot,
)
from factflow_foundation import new_id
from factflow_infra.queue import MemoryQueueProvider
from factflow_infra.testing.plugin import database_url, db_engine, db_session_factory
from factflow_protocols import QueueMessage
from factflow_server._janitor import QueueJanitor

__all__ = ("database_url", "db_engine", "db_session_factory")

CONFIG: dict[str, Any] = {
    "version": "1.0",
    "routes": {
        "first": {
            "inbound": {"queue": "/queue/in"},
            "adapters": [{"type": "echo"}],
            "outbound": [{"queue": "mid"}, {"queue": "site.embeddings"}],
            "error_handling": {"dead_letter_queue": None},
        },
        "second": {
            "inbound": {"queue": "mid"},
            "adapters": [{"type": "echo"}],
            "outbound": [],
            "error_handling": {"dead_letter_queue": "site.embeddings.dlq"},
        },
    },
    "error_handling": {"dead_letter_queue": None},
}
QUEUES = ("in", "mid", "site.embeddings", "dlq.first", "site.embeddings.dlq")


def test_snapshot_queues_split_ordinary_and_dead_letter() -> None:
    snapshot = ConfigSnapshot.model_validate({"config": CONFIG})
    assert set(snapshot.queues()) == {"in", "mid", "site.embeddings"}
    assert set(snapshot.dlqs()) == {"dlq.first", "site.embeddings.dlq"}


async def _execution(repo: PipelineExecutionRepository, status: ExecutionStatus, completed_at: datetime | None) -> str:
    execution_id = new_id()
    await repo.insert(
        PipelineExecution(
            execution_id=execution_id,
            config_id=new_id(),
            config_name="janitor",
            config_version=1,
            status=status,
            source=ConfigSourceType.API,
            started_at=datetime.now(UTC) - timedelta(days=30),
            completed_at=completed_at,
            stored_snapshot=StoredSnapshot(ConfigSnapshot.model_validate({"config": CONFIG})),
        )
    )
    return execution_id


async def _fill(queue: MemoryQueueProvider, execution_id: str) -> None:
    for name in QUEUES:
        message = QueueMessage(id=new_id(), execution_id=execution_id, route_id="first", payload={"q": name})
        await queue.publish(scoped_queue_name(execution_id, name), message, dedupe_scope=execution_id)


async def _depths(queue: MemoryQueueProvider, execution_id: str) -> dict[str, int]:
    return {name: (await queue.depth(scoped_queue_name(execution_id, name), "probe")).total for name in QUEUES}


async def test_janitor_purges_after_each_retention(db_session_factory: async_sessionmaker[AsyncSession]) -> None:
    repo = PipelineExecutionRepository(db_session_factory)
    now = datetime.now(UTC)
    done = await _execution(repo, "completed", now - timedelta(hours=2))
    recent = await _execution(repo, "failed", now - timedelta(minutes=5))
    running = await _execution(repo, "running", None)
    interrupted = await _execution(repo, "interrupted", None)
    async with MemoryQueueProvider() as queue:
        for execution_id in (done, recent, running, interrupted):
            await _fill(queue, execution_id)
        clock = [now]
        janitor = QueueJanitor(
            queue=queue,
            sessions=db_session_factory,
            executions=repo,
            queue_retention_seconds=3600,
            dlq_retention_seconds=86400,
            clock=lambda: clock[0],
        )
        assert await janitor.sweep() == 1
        depths = await _depths(queue, done)
        assert depths == {"in": 0, "mid": 0, "site.embeddings": 0, "dlq.first": 1, "site.embeddings.dlq": 1}
        for untouched in (recent, running, interrupted):
            assert set((await _depths(queue, untouched)).values()) == {1}
        stamped = await repo.get(done)
        assert stamped.queues_purged_at is not None and stamped.dlq_purged_at is None
        assert await janitor.sweep() == 0  # nothing new is due

        clock[0] = now + timedelta(days=2)
        assert await janitor.sweep() == 3  # done's DLQs, recent's queues and DLQs
        assert set((await _depths(queue, done)).values()) == {0}
        assert set((await _depths(queue, recent)).values()) == {0}
        for untouched in (running, interrupted):
            assert set((await _depths(queue, untouched)).values()) == {1}
        assert (await repo.get(done)).dlq_purged_at is not None
        assert (await repo.get(running)).queues_purged_at is None


async def test_janitor_loop_stops_promptly(db_session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with MemoryQueueProvider() as queue:
        janitor = QueueJanitor(
            queue=queue,
            sessions=db_session_factory,
            executions=PipelineExecutionRepository(db_session_factory),
            queue_retention_seconds=1,
            dlq_retention_seconds=1,
            interval_seconds=3600,
        )
        janitor.start()
        await janitor.shutdown()
        await janitor.shutdown()
