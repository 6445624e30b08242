"""Engine settings, error translation at the database boundary."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_infra.database import (
    create_database_engine,
    create_session_factory,
    ping_database,
    run_migrations,
    translate_database_errors,
)
from factflow_infra.errors import (
    DatabaseError,
    DatabaseIntegrityError,
    DatabaseUnavailableError,
    UnsupportedProviderUrlError,
)


async def test_sqlite_runs_in_wal_mode_with_busy_timeout_and_foreign_keys(sqlite_database_url: str) -> None:
    engine = create_database_engine(sqlite_database_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one() == 5000
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_postgres_search_path_option_selects_the_schema(postgres_database_url: str) -> None:
    engine = create_database_engine(postgres_database_url)
    try:
        async with engine.connect() as connection:
            schema = (await connection.execute(text("SELECT current_schema()"))).scalar_one()
        assert postgres_database_url.endswith(f"search_path={schema}")
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    ["mysql+aiomysql://u@h/db", "sqlite:///x.db", "postgresql+psycopg2://u@h/db", "not a url"],
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsupportedProviderUrlError):
        create_database_engine(url)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_postgres_is_unavailable() -> None:
    url = f"postgresql+asyncpg://factflow:secret-pw@127.0.0.1:{closed_port()}/factflow"
    engine = create_database_engine(url)
    try:
        with pytest.raises(DatabaseUnavailableError) as info:
            await ping_database(engine)
        assert info.value.code == "database_unavailable"
        assert "secret-pw" not in str(info.value)
        with pytest.raises(DatabaseUnavailableError):
            await run_migrations(engine)
    finally:
        await engine.dispose()


async def test_unknown_postgres_database_is_unavailable(postgres_database_url: str) -> None:
    url = postgres_database_url.replace("/test?", "/factflow_no_such_db?")
    with pytest.raises(DatabaseUnavailableError, match="factflow_no_such_db"):
        await run_migrations(url)


async def test_ping_succeeds_on_a_live_database(db_engine: AsyncEngine) -> None:
    await ping_database(db_engine)


async def test_constraint_violations_become_integrity_errors(db_engine: AsyncEngine) -> None:
    sessions = create_session_factory(db_engine)
    insert = text("INSERT INTO route_pause_state (route_id, paused) VALUES ('r1', :paused)")
    async with sessions() as session:
        await session.execute(insert, {"paused": True})
        await session.commit()
    async with sessions() as session:
        with pytest.raises(DatabaseIntegrityError) as info, translate_database_errors(db_engine.url):
            await session.execute(insert, {"paused": False})
        assert info.value.code == "database_integrity_error"
        assert info.value.constraint_name == "pk_route_pause_state" or info.value.columns == (
            "route_pause_state.route_id",
        )


async def test_other_sql_errors_become_database_errors(db_engine: AsyncEngine) -> None:
    with pytest.raises(DatabaseError) as info, translate_database_errors(db_engine.url):
        async with db_engine.connect() as connection:
            await connection.execute(text("SELECT no_such_column FROM route_pause_state"))
    assert not isinstance(info.value, DatabaseUnavailableError)
