"""Database fixtures: SQLite in `tmp_path`, PostgreSQL in a throw-away schema, migrated engines.

PostgreSQL comes from `FACTFLOW_TEST_DATABASE_URL` (default
`postgresql+asyncpg://postgres@127.0.0.1:5432/test`). Each test gets its own schema, created
before and dropped (CASCADE) after; the URL it receives carries `?search_path=<schema>`, which
`create_database_engine` applies, so tables land in that schema. An unreachable server skips
the PostgreSQL variants, except with `CI=true`, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from ..database import SEARCH_PATH_OPTION, create_database_engine, create_session_factory, run_migrations

__all__ = (
    "DEFAULT_TEST_DATABASE_URL",
    "TEST_DATABASE_URL_ENV",
    "database_url",
    "db_engine",
    "db_session_factory",
    "in_ci",
    "postgres_database_url",
    "postgres_test_schema",
    "resolve_test_database_url",
    "service_unavailable",
    "sqlite_database_url",
)

TEST_DATABASE_URL_ENV = "FACTFLOW_TEST_DATABASE_URL"
DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

_CONNECT_TIMEOUT_SECONDS = 3
_probe_failures: dict[str, str | None] = {}


def in_ci() -> bool:
    """Whether `CI` is set to a true value (service-backed tests must then not skip)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def service_unavailable(message: str) -> NoReturn:
    """Skip the test on a laptop; fail it when `CI=true`."""
    if in_ci():
        pytest.fail(f"{message} (CI=true: service-backed tests must not skip)", pytrace=False)
    pytest.skip(message)


def resolve_test_database_url() -> str:
    """The PostgreSQL test server URL (`FACTFLOW_TEST_DATABASE_URL` or the default)."""
    return os.environ.get(TEST_DATABASE_URL_ENV) or DEFAULT_TEST_DATABASE_URL


def _admin_engine(base_url: str) -> AsyncEngine:
    return create_async_engine(
        make_url(base_url).difference_update_query([SEARCH_PATH_OPTION]),
        poolclass=NullPool,
        connect_args={"timeout": _CONNECT_TIMEOUT_SECONDS},
    )


async def _probe(base_url: str) -> str | None:
    """None when PostgreSQL answers, else why not (remembered for the session)."""
    if base_url not in _probe_failures:
        engine = _admin_engine(base_url)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            _probe_failures[base_url] = None
        except Exception as exc:
            _probe_failures[base_url] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        finally:
            await engine.dispose()
    return _probe_failures[base_url]


@contextlib.asynccontextmanager
async def postgres_test_schema(base_url: str | None = None) -> AsyncIterator[str]:
    """Create a fresh schema, yield a URL whose `search_path` is that schema, then drop it.

    Dispose every engine built on the URL before the block ends: the drop waits at most 10 s
    for their locks.

    Args:
        base_url: The server; `FACTFLOW_TEST_DATABASE_URL` (or its default) when None.
    """
    base = base_url or resolve_test_database_url()
    problem = await _probe(base)
    if problem is not None:
        service_unavailable(f"PostgreSQL at {make_url(base).render_as_string()} is unreachable: {problem}")
    schema = f"factflow_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(base)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield make_url(base).update_query_dict({SEARCH_PATH_OPTION: schema}).render_as_string(hide_password=False)
        finally:
            async with admin.begin() as connection:
                await connection.execute(text("SET LOCAL lock_timeout = '10s'"))
                await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    """`sqlite+aiosqlite:///<tmp_path>/factflow.db` (the file does not exist yet)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'factflow.db'}"


@pytest.fixture
async def postgres_database_url() -> AsyncIterator[str]:
    """A PostgreSQL URL with its own fresh schema (`?search_path=factflow_test_…`), dropped afterwards."""
    async with postgres_test_schema() as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgresql", marks=pytest.mark.postgres),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database, once on SQLite (in `tmp_path`) and once on PostgreSQL (own schema)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'factflow.db'}"
        return
    async with postgres_test_schema() as url:
        yield url


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
def db_session_factory(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the migrated `db_engine`."""
    return create_session_factory(db_engine)
