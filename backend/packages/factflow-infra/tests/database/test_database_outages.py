"""Server-side refusals and lost connections are outages (`DatabaseUnavailableError`), not faults."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import exc as sa_exc
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from factflow_infra.database import create_database_engine, translate_database_errors
from factflow_infra.errors import DatabaseError, DatabaseUnavailableError
from factflow_infra.testing._database import resolve_test_database_url

pytestmark = pytest.mark.postgres


@pytest_asyncio.fixture
async def admin(postgres_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(
        make_url(resolve_test_database_url()).difference_update_query(["search_path"]),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
    )
    try:
        yield engine
    finally:
        await engine.dispose()


async def _refused(url: str) -> DatabaseUnavailableError:
    engine = create_database_engine(url)
    try:
        with pytest.raises(DatabaseUnavailableError) as raised, translate_database_errors(url):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return raised.value
    finally:
        await engine.dispose()


async def test_a_database_not_accepting_connections(admin: AsyncEngine) -> None:
    name = f"factflow_refuse_{uuid.uuid4().hex[:12]}"
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}" ALLOW_CONNECTIONS false'))
    try:
        error = await _refused(make_url(resolve_test_database_url()).set(database=name).render_as_string(False))
        assert "not currently accepting connections" in error.message
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


async def test_too_many_connections_for_a_role(admin: AsyncEngine) -> None:
    name = f"factflow_limit_{uuid.uuid4().hex[:12]}"
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE ROLE "{name}" LOGIN CONNECTION LIMIT 0'))
    try:
        error = await _refused(make_url(resolve_test_database_url()).set(username=name).render_as_string(False))
        assert "too many connections" in error.message
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))


async def test_a_backend_terminated_mid_query(admin: AsyncEngine, postgres_database_url: str) -> None:
    application_name = f"factflow-terminate-{uuid.uuid4().hex[:12]}"
    engine = create_database_engine(
        postgres_database_url, connect_args={"server_settings": {"application_name": application_name}}
    )

    async def long_query() -> None:
        with translate_database_errors(postgres_database_url):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT pg_sleep(60)"))

    try:
        query = asyncio.create_task(long_query(), name="long-query")
        async with asyncio.timeout(30), admin.connect() as connection:
            ended = False
            while not ended:
                ended = bool(
                    (
                        await connection.execute(
                            text(
                                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE application_name = :name AND state = 'active' AND query LIKE '%pg_sleep%'"
                            ),
                            {"name": application_name},
                        )
                    ).scalar_one()
                )
        with pytest.raises(DatabaseUnavailableError):
            async with asyncio.timeout(30):
                await query
    finally:
        await engine.dispose()


# Refusals this server cannot be made to produce on demand (start-up, crash recovery) are checked
# with the driver's own exception classes, wrapped as SQLAlchemy wraps them.
@pytest.mark.parametrize(
    ("driver_error", "outage"),
    [
        (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.exceptions.CrashShutdownError("terminating connection because of crash of another process"), True),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"), True),
        (asyncpg.exceptions.ConnectionFailureError("connection failure"), True),
        (
            asyncpg.exceptions.ObjectNotInPrerequisiteStateError('database "x" is not currently accepting connections'),
            True,
        ),
        (asyncpg.exceptions.ObjectNotInPrerequisiteStateError("sequence was not yet called"), False),
        (asyncpg.exceptions.NumericValueOutOfRangeError("integer out of range"), False),
    ],
    ids=lambda value: getattr(value, "sqlstate", str(value)),
)
def test_sqlstate_classes(driver_error: Exception, outage: bool) -> None:
    wrapped = sa_exc.DBAPIError("SELECT 1", None, driver_error)
    with pytest.raises(DatabaseError) as raised, translate_database_errors():
        raise wrapped
    assert isinstance(raised.value, DatabaseUnavailableError) is outage
    assert raised.value.__cause__ is wrapped
