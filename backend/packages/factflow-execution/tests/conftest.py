from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_execution import ConfigSourceType, PipelineExecution
from factflow_foundation import new_id
from factflow_infra.testing.plugin import database_url, db_engine, db_session_factory

__all__ = ("database_url", "db_engine", "db_session_factory")


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
            "config_snapshot": {"config": SNAPSHOT_CONFIG, "config_yaml": "x", "config_hash": "sha256:0"},
        }
        values.update(overrides)
        return PipelineExecution(**values)

    return factory
