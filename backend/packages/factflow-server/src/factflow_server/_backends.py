"""`open_backends(settings)`: the database, start-up lock, queue and storage of one server.

Start-up steps 3–6 (docs/guides/deployment.md): the database (retried up to 60 s), the start-up
lock, migrations (SQLite always, PostgreSQL unless disabled), then queue and storage (retried).
Leaving the context closes them in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factflow_foundation import FactflowSettings
from factflow_infra.database import (
    ServerLock,
    acquire_server_lock,
    create_database_engine,
    create_session_factory,
    is_sqlite,
    ping_database,
    run_migrations,
)
from factflow_infra.errors import ServerLockHeldError
from factflow_infra.queue import MemoryQueueProvider, RedisStreamsQueueProvider, create_queue_provider
from factflow_infra.storage import StorageProvider, create_storage_provider

from ._retry import retry_startup_step

__all__ = ("Backends", "open_backends")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Backends:
    """The connected back ends of one server."""

    database_url: str
    database: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    lock: ServerLock | None
    """The start-up lock; None on a standby (another server leads, see `_leadership.py`)."""
    lock_holder: str | None = None
    """On a standby: who holds the lock."""
    queue: MemoryQueueProvider | RedisStreamsQueueProvider
    storage: StorageProvider


@contextlib.asynccontextmanager
async def open_backends(
    settings: FactflowSettings,
    *,
    stop: asyncio.Event | None = None,
    lock_key: int | None = None,
    on_step: Callable[[str], None] | None = None,
    standby: bool = False,
) -> AsyncIterator[Backends]:
    """Connect the back ends of `settings` (URLs already resolved) and close them on exit.

    Args:
        settings: The effective settings.
        stop: Set by the signal handler; retry loops give up early when it is set.
        lock_key: PostgreSQL advisory lock key (tests running servers side by side).
        on_step: Told the name of each step as it begins (for the start-up failure log).
        standby: PostgreSQL only: when another server holds the lock, open the back ends
            without it (and without migrations, the leader ran them) instead of failing.
    """
    assert settings.database_url and settings.queue_url and settings.storage_uri, "backend URLs are resolved first"
    step = on_step or (lambda name: None)
    stop = stop or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        step("database")
        engine = create_database_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        await retry_startup_step("database", lambda: ping_database(engine, timeout_seconds=5), stop=stop)
        step("lock and migrations")
        lock: ServerLock | None = None
        lock_holder: str | None = None
        try:
            lock = await acquire_server_lock(engine, lock_key=lock_key)
        except ServerLockHeldError as exc:
            if not standby or is_sqlite(engine):
                raise
            lock_holder = str(exc.context.get("holder") or "another server")
            logger.info("another server leads (%s): starting as a standby", lock_holder)
        if lock is not None:
            stack.push_async_callback(lock.release)
        if is_sqlite(engine) or (settings.db_auto_migrate and lock is not None):
            revision = await run_migrations(engine)
            logger.info("database schema at revision %s", revision)
        step("queue and storage")
        queue = create_queue_provider(settings.queue_url, settings=settings)
        stack.push_async_callback(queue.close)
        await retry_startup_step("queue", queue.connect, stop=stop)
        storage = create_storage_provider(settings.storage_uri, settings)
        await retry_startup_step("storage", storage.start, stop=stop)
        stack.push_async_callback(storage.shutdown)
        yield Backends(
            database_url=settings.database_url,
            database=engine,
            sessions=create_session_factory(engine),
            lock=lock,
            lock_holder=lock_holder,
            queue=queue,
            storage=storage,
        )
