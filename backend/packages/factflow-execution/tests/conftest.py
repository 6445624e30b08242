from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_engine.config import ConfigSnapshot
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_execution import (
    ConfigSourceType,
    ExecutionStats,
    PipelineExecution,
    PipelineExecutionRepository,
    StoredSnapshot,
)
from factflow_execution._stats import build_execution_stats
from factflow_foundation import new_id
from factflow_infra.database import create_database_engine, create_session_factory, run_migrations
from factflow_infra.testing.plugin import database_url, db_engine, db_session_factory, sqlite_database_url
from factflow_lineage import StageCounts
from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

__all__ = ("database_url", "db_engine", "db_session_factory", "sqlite_database_url")


@pytest.fixture
def session_factory(db_session_factory: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions on a migrated database: SQLite, and PostgreSQL in a schema of its own."""
    return db_session_factory


SNAPSHOT_CONFIG = {
    "version": "1.0",
    "name": "demo",
    "routes": {
        "first": {
            "name": "First",
            "inbound": {"queue": "/queue/in"},
            "adapters": [{"type": "echo", "stage": None}, {"type": "upper", "stage": "shout"}],
            "outbound": [{"queue": "mid", "condition": None}],
        },
        "second": {
            "name": None,
            "inbound": {"queue": "mid"},
            "adapters": [{"type": "echo", "stage": None}],
            "outbound": [],
        },
    },
    "init_message": {"route": "first", "payload": {}},
    "error_handling": {"tolerated_failures": 2},
}


@pytest.fixture
def make_execution() -> Callable[..., PipelineExecution]:
    def factory(**overrides: Any) -> PipelineExecution:
        values: dict[str, Any] = {
            "execution_id": new_id(),
            "config_id": new_id(),
            "config_name": "demo",
            "config_version": 1,
            "status": "running",
            "source": ConfigSourceType.API,
            "started_at": datetime.now(UTC),
            "stored_snapshot": StoredSnapshot(
                ConfigSnapshot.model_validate(
                    {"config": SNAPSHOT_CONFIG, "config_yaml": "x", "config_hash": "sha256:0"}
                )
            ),
        }
        values.update(overrides)
        return PipelineExecution(**values)

    return factory


class RepoReader:
    """An `ExecutionReader` over the real repository, for hub, stream and waiter tests."""

    def __init__(self, repo: PipelineExecutionRepository) -> None:
        self.repo = repo

    async def get(self, ref: str) -> PipelineExecution:
        return await self.repo.resolve(ref)

    async def event_snapshot(self, execution: PipelineExecution) -> dict[str, Any]:
        return {
            "execution": execution.to_api(),
            "message_counts": execution.message_counts or {},
            "stage_counts": {},
            "routes": [],
        }

    async def stats(self, ref: str) -> ExecutionStats:
        execution = await self.repo.resolve(ref)
        return build_execution_stats(
            execution, stage_counts=StageCounts(), adapter_rows=[], message_counts=execution.message_counts
        )


@pytest.fixture
async def sqlite_session_factory(sqlite_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated SQLite database only, for tests whose subject does not depend on the dialect."""
    engine = create_database_engine(sqlite_database_url)
    try:
        await run_migrations(engine)
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def execution_repo(sqlite_session_factory: async_sessionmaker[AsyncSession]) -> PipelineExecutionRepository:
    """Executions on SQLite (hub, stream and waiter tests)."""
    return PipelineExecutionRepository(sqlite_session_factory)


@pytest.fixture
def reader(execution_repo: PipelineExecutionRepository) -> RepoReader:
    return RepoReader(execution_repo)


# ---------------------------------------------------------------- adapters for end-to-end tests


class EchoAdapter(PipelineAdapter):
    """Passes the payload on unchanged."""

    adapter_type: ClassVar[str] = "echo"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return AdapterResult(message=dict(context.message))


class UpperAdapter(PipelineAdapter):
    """Upper-cases `text`."""

    adapter_type: ClassVar[str] = "upper"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        message = dict(context.message)
        message["text"] = str(message.get("text", "")).upper()
        return AdapterResult(message=message)


class GateAdapter(PipelineAdapter):
    """Blocks until the test's `gate` event is set."""

    adapter_type: ClassVar[str] = "gate"
    release: ClassVar[asyncio.Event | None] = None

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        gate = type(self).release
        assert gate is not None
        await gate.wait()
        return AdapterResult(message=dict(context.message))


class BoomAdapter(PipelineAdapter):
    """Always fails for good."""

    adapter_type: ClassVar[str] = "boom"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        raise NonRetryableError("boom")


class BrokenStartAdapter(PipelineAdapter):
    """Cannot start."""

    adapter_type: ClassVar[str] = "broken_start"

    async def start(self) -> None:
        raise RuntimeError("cannot start")

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        raise AssertionError("never started")


@pytest.fixture
def registry() -> ValidatingAdapterRegistry:
    """A registry with the test adapters `echo`, `upper`, `gate`, `boom` and `broken_start` only."""
    registry = ValidatingAdapterRegistry()
    for cls in (EchoAdapter, UpperAdapter, GateAdapter, BoomAdapter, BrokenStartAdapter):
        registry.register(cls, name=cls.adapter_type)
    return registry


@pytest.fixture
def gate() -> Iterator[asyncio.Event]:
    """The event `gate` adapters wait for."""
    GateAdapter.release = asyncio.Event()
    yield GateAdapter.release
    GateAdapter.release.set()
    GateAdapter.release = None
