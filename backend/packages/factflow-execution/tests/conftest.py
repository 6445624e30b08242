from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

import factflow_execution._orm  # noqa: F401  (registers the tables on Base.metadata)
from factflow_execution import ConfigSourceType, PipelineExecution
from factflow_foundation import new_id
from factflow_infra.database import Base

PG_URL = os.environ.get("FACTFLOW_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
_pg_checked: dict[str, str | None] = {}


async def _postgres_problem() -> str | None:
    if "result" not in _pg_checked:
        engine = create_async_engine(PG_URL, connect_args={"timeout": 3})
        try:
            async with asyncio.timeout(5), engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            _pg_checked["result"] = None
        except Exception as exc:  # any failure to reach the service
            _pg_checked["result"] = f"PostgreSQL at {PG_URL} unreachable: {exc!r}"
        finally:
            await engine.dispose()
    return _pg_checked["result"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A database with every factflow table: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'factflow.db'}")
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield engine
        await engine.dispose()
        return
    problem = await _postgres_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"t_exec_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_async_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
def session_factory(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(db_engine, expire_on_commit=False)


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
            "config_snapshot": {"config": SNAPSHOT_CONFIG, "config_yaml": "x", "config_hash": "sha256:0"},
        }
        values.update(overrides)
        return PipelineExecution(**values)

    return factory
