"""The start-up lock refuses a second holder and is released on close (runtime.md §0)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from sqlalchemy import make_url

from factflow_infra.database import (
    SERVER_LOCK_KEY,
    SQLITE_LOCK_FILENAME,
    acquire_server_lock,
    create_database_engine,
    schema_lock_key,
)
from factflow_infra.errors import ServerLockHeldError


def test_lock_key_is_the_documented_one() -> None:
    assert SERVER_LOCK_KEY == 0x7AC7F10E


@pytest.fixture
def lock_key() -> int:
    # Advisory locks are per database, not per schema: parallel tests need their own key.
    return random.randrange(1 << 40, 1 << 62)


async def test_second_holder_is_refused_until_release(database_url: str, lock_key: int) -> None:
    first = await acquire_server_lock(database_url, holder="first-server", lock_key=lock_key)
    try:
        assert await first.is_held()
        with pytest.raises(ServerLockHeldError, match="first-server") as info:
            await acquire_server_lock(database_url, holder="second-server", lock_key=lock_key)
        assert info.value.code == "server_lock_held"
        assert "first-server" in info.value.context["holder"]
        if first.dialect == "sqlite":
            assert info.value.context["location"].endswith(SQLITE_LOCK_FILENAME)
        else:
            assert "127.0.0.1" in info.value.context["location"] or "/" in info.value.context["location"]
    finally:
        await first.release()
    assert not await first.is_held()
    await first.release()  # idempotent

    async with await acquire_server_lock(database_url, holder="second-server", lock_key=lock_key) as second:
        assert await second.is_held()
    assert second.released


async def test_lock_on_a_shared_engine_keeps_the_engine_usable(database_url: str, lock_key: int) -> None:
    engine = create_database_engine(database_url)
    try:
        lock = await acquire_server_lock(engine, lock_key=lock_key)
        with pytest.raises(ServerLockHeldError):
            await acquire_server_lock(database_url, lock_key=lock_key)
        await lock.close()
        again = await acquire_server_lock(engine, lock_key=lock_key)
        await again.close()
    finally:
        await engine.dispose()


async def test_sqlite_lock_file_sits_next_to_the_database(sqlite_database_url: str) -> None:
    database = Path(str(make_url(sqlite_database_url).database))
    lock = await acquire_server_lock(sqlite_database_url)
    try:
        assert lock.location == str(database.with_name(SQLITE_LOCK_FILENAME))
        assert await asyncio.to_thread(Path(lock.location).exists)
    finally:
        await lock.release()


async def test_in_memory_sqlite_needs_no_lock() -> None:
    async with await acquire_server_lock("sqlite+aiosqlite://") as lock:
        assert lock.location == ":memory:"
        assert await lock.is_held()


@pytest.mark.postgres
async def test_servers_on_different_schemas_of_one_database_do_not_exclude_each_other(
    postgres_database_url: str,
) -> None:
    other_schema = make_url(postgres_database_url).update_query_dict({"search_path": "factflow_other_deployment"})
    first = await acquire_server_lock(postgres_database_url, holder="first-server")
    try:
        with pytest.raises(ServerLockHeldError, match="first-server"):
            await acquire_server_lock(postgres_database_url, holder="second-server")
        async with await acquire_server_lock(other_schema, holder="other-deployment") as other:
            assert await other.is_held()
    finally:
        await first.release()
    assert schema_lock_key(make_url(postgres_database_url)) != SERVER_LOCK_KEY
    assert schema_lock_key(make_url("postgresql+asyncpg://postgres@127.0.0.1/test")) == SERVER_LOCK_KEY
