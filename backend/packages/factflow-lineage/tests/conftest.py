"""Fixtures of the lineage tests.

Databases come from `factflow_infra.testing`: `database_url` is a SQLite file and then a
PostgreSQL schema of its own (`FACTFLOW_TEST_DATABASE_URL`; unreachable skips, or fails with
`CI=true`). `db_engine` runs the migrations: the per-stage counters are kept by triggers that
only the migrations create.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_foundation import new_id
from factflow_infra.database import create_database_engine, run_migrations
from factflow_infra.testing import plugin as infra_fixtures
from factflow_protocols import LineageRecord, StageStatus

# infra's database fixtures, made visible to pytest by naming them here.
database_url = infra_fixtures.database_url
sqlite_database_url = infra_fixtures.sqlite_database_url
postgres_database_url = infra_fixtures.postgres_database_url
db_session_factory = infra_fixtures.db_session_factory

BASE_TIME = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)

RecordFactory = Callable[..., LineageRecord]


@pytest.fixture
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `database_url`, migrated to head; disposed afterwards."""
    engine = create_database_engine(database_url, pool_size=5)
    try:
        await run_migrations(engine)
        yield engine
    finally:
        await engine.dispose()


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
