"""Database fixtures for the lineage tests: SQLite in `tmp_path`, PostgreSQL in a throw-away schema.

PostgreSQL comes from `FACTFLOW_TEST_DATABASE_URL` (default
`postgresql+asyncpg://postgres@127.0.0.1:5432/test`); each test gets its own schema, passed as
the URL option `?search_path=<schema>` that `create_database_engine` applies, and dropped
afterwards. Unreachable: the PostgreSQL variants skip, or fail when `CI=true`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from factflow_foundation import new_id
from factflow_infra.database import SEARCH_PATH_OPTION, Base, create_database_engine, create_session_factory
from factflow_lineage import LineageRecord, PipelineLineageEntry, StageStatus

DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BASE_TIME = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)

RecordFactory = Callable[..., LineageRecord]

assert PipelineLineageEntry.__tablename__ in Base.metadata.tables


def _service_unavailable(message: str) -> None:
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: service-backed tests must not skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A PostgreSQL URL whose `search_path` is a fresh schema, dropped afterwards."""
    base = os.environ.get("FACTFLOW_TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL
    admin = create_async_engine(base, poolclass=NullPool, connect_args={"timeout": 3})
    schema = f"lineage_test_{uuid.uuid4().hex[:12]}"
    try:
        try:
            async with admin.begin() as connection:
                await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        except Exception as exc:
            _service_unavailable(f"PostgreSQL at {make_url(base).render_as_string()} is unreachable: {exc}")
        try:
            yield make_url(base).update_query_dict({SEARCH_PATH_OPTION: schema}).render_as_string(hide_password=False)
        finally:
            async with admin.begin() as connection:
                await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'lineage.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `database_url` with the tables created; disposed afterwards."""
    engine = create_database_engine(database_url, pool_size=5)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def session_factory(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(db_engine)


@pytest.fixture
def make_record() -> RecordFactory:
    """Build a `LineageRecord` with sensible defaults; keyword arguments override fields."""

    def build(**overrides: Any) -> LineageRecord:
        values: dict[str, Any] = {
            "id": new_id(),
            "correlation_id": new_id(),
            "parent_correlation_id": None,
            "execution_id": "00000000-0000-7000-8000-00000000e001",
            "route_id": "ingest",
            "adapter_name": "fetch",
            "adapter_index": 0,
            "stage_name": "fetch",
            "stage_status": StageStatus.PROCESSING,
            "started_at": BASE_TIME,
        }
        values.update(overrides)
        return LineageRecord(**values)

    return build
