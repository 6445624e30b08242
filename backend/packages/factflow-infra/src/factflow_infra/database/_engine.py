"""Async engine and session factories for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from ..errors import DatabaseUnavailableError, UnsupportedProviderUrlError
from ._errors import translate_database_errors

__all__ = (
    "SEARCH_PATH_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "create_database_engine",
    "create_session_factory",
    "is_sqlite",
    "ping_database",
)

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite writer waits for the lock before failing with `database is locked`."""

SEARCH_PATH_OPTION = "search_path"
"""URL query option for PostgreSQL: `…/db?search_path=<schema>` puts every table in that schema."""


def is_sqlite(url: str | URL | AsyncEngine) -> bool:
    """Whether `url` (or the engine's URL) names a SQLite database."""
    if isinstance(url, AsyncEngine):
        return url.dialect.name == "sqlite"
    return (make_url(url) if isinstance(url, str) else url).get_backend_name() == "sqlite"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Per connection: WAL lets readers run beside the single writer; the busy timeout makes
    # writers queue instead of failing at once; SQLite leaves foreign keys off by default.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_engine(url: URL, *, pool_size: int, echo: bool, connect_args: dict[str, Any]) -> AsyncEngine:
    if url.get_driver_name() != "aiosqlite":
        raise UnsupportedProviderUrlError(f"SQLite URLs must use the async driver: `sqlite+aiosqlite://`, got {url!s}.")
    in_memory = url.database in (None, "", ":memory:")
    options: dict[str, Any] = {"echo": echo, "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, **connect_args}}
    if not in_memory:
        assert url.database is not None
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options["pool_size"] = pool_size
    engine = create_async_engine(url, **options)
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    return engine


def _postgres_engine(
    url: URL, *, pool_size: int, max_overflow: int, pool_timeout: float, echo: bool, connect_args: dict[str, Any]
) -> AsyncEngine:
    if url.get_driver_name() != "asyncpg":
        raise UnsupportedProviderUrlError(
            f"PostgreSQL URLs must use the async driver: `postgresql+asyncpg://`, got {url.render_as_string()}."
        )
    args = dict(connect_args)
    search_path = url.query.get(SEARCH_PATH_OPTION)
    if search_path is not None:
        if not isinstance(search_path, str):
            raise UnsupportedProviderUrlError(f"Give `{SEARCH_PATH_OPTION}` once in the database URL.")
        url = url.difference_update_query([SEARCH_PATH_OPTION])
        args["server_settings"] = {**args.get("server_settings", {}), "search_path": search_path}
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        connect_args=args,
    )


def create_database_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    echo: bool = False,
    connect_args: dict[str, Any] | None = None,
) -> AsyncEngine:
    """Create the async engine for `FACTFLOW_DATABASE_URL`.

    - `sqlite+aiosqlite:///<path>`: every connection runs in WAL mode with a 5 s busy timeout
      and foreign keys on; the parent directory is created.
    - `postgresql+asyncpg://…`: a pool of `pool_size` (+ `max_overflow`) connections, checked
      before use. The URL option `?search_path=<schema>` is applied as a server setting, so one
      database can hold several factflow schemas (the test fixtures rely on it).

    No connection is opened here; see `ping_database`.

    Args:
        url: The database URL.
        pool_size: Connections kept open (file SQLite and PostgreSQL).
        max_overflow: Extra connections allowed under load (PostgreSQL).
        pool_timeout: Seconds to wait for a free connection (PostgreSQL).
        echo: Log every statement.
        connect_args: Extra driver arguments.

    Raises:
        UnsupportedProviderUrlError: not an aiosqlite or asyncpg URL.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception as exc:
        raise UnsupportedProviderUrlError(f"Malformed database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, pool_size=pool_size, echo=echo, connect_args=connect_args or {})
    if backend == "postgresql":
        return _postgres_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            echo=echo,
            connect_args=connect_args or {},
        )
    raise UnsupportedProviderUrlError(
        f"Unsupported database URL scheme {parsed.drivername!r}: use `postgresql+asyncpg://` or `sqlite+aiosqlite://`."
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to `engine`; objects stay usable after commit (`expire_on_commit=False`)."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping_database(engine: AsyncEngine, *, timeout_seconds: float = 5.0) -> None:
    """Run `SELECT 1`; the server retries this at start-up and `health` reports it.

    Raises:
        DatabaseUnavailableError: no answer within `timeout_seconds`, or the connection failed.
    """
    with translate_database_errors(engine.url):
        try:
            async with asyncio.timeout(timeout_seconds), engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except TimeoutError as exc:
            raise DatabaseUnavailableError(f"The database did not answer within {timeout_seconds:g} s.") from exc
