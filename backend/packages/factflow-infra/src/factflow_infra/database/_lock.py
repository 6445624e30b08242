"""The server start-up lock (docs/guides/deployment.md): one factflow server per database.

PostgreSQL: session advisory lock `0x7AC7F10E` held on a dedicated connection for the life of
the server. SQLite: an exclusive `factflow.lock` file lock (`filelock`) beside the database
file, with the holder's identity in `factflow.lock.holder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from filelock import FileLock, Timeout
from sqlalchemy import URL, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..errors import ServerLockHeldError
from ._engine import SEARCH_PATH_OPTION, create_database_engine
from ._errors import describe_database, translate_database_errors

__all__ = (
    "SERVER_LOCK_KEY",
    "SQLITE_LOCK_FILENAME",
    "ServerLock",
    "acquire_server_lock",
    "default_lock_holder",
    "schema_lock_key",
)

logger = logging.getLogger(__name__)

SERVER_LOCK_KEY = 0x7AC7F10E
"""PostgreSQL advisory lock key of the server start-up lock."""

SQLITE_LOCK_FILENAME = "factflow.lock"
"""Lock file created next to the SQLite database file."""

_HOLDER_SUFFIX = ".holder"

_PG_HOLDER_QUERY = text(
    """
    SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start
    FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted
      AND l.classid = CAST(:classid AS oid) AND l.objid = CAST(:objid AS oid) AND l.objsubid = 1
    """
)


def default_lock_holder() -> str:
    """`factflow-server <host> pid <pid>`: how a lock holder names itself."""
    return f"factflow-server {socket.gethostname()} pid {os.getpid()}"


class ServerLock:
    """A held start-up lock. `release()` (alias `close()`) is idempotent; also `async with`."""

    def __init__(
        self,
        *,
        dialect: Literal["postgresql", "sqlite"],
        location: str,
        holder: str,
        connection: AsyncConnection | None = None,
        owned_engine: AsyncEngine | None = None,
        lock_key: int = SERVER_LOCK_KEY,
        file_lock: FileLock | None = None,
        holder_file: Path | None = None,
    ) -> None:
        self.dialect = dialect
        """`postgresql` or `sqlite`."""
        self.location = location
        """The database (PostgreSQL) or the lock file path (SQLite)."""
        self.holder = holder
        """The name this process holds the lock under."""
        self._connection = connection
        self._owned_engine = owned_engine
        self._lock_key = lock_key
        self._file_lock = file_lock
        self._holder_file = holder_file
        self._released = False

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"ServerLock({self.dialect}, {self.location!r}, {state})"

    @property
    def released(self) -> bool:
        """Whether `release()` has run."""
        return self._released

    async def is_held(self) -> bool:
        """Whether the lock is still ours (False after release, or once the PostgreSQL connection died)."""
        if self._released:
            return False
        if self._connection is None:
            return self._file_lock is None or self._file_lock.is_locked
        try:
            result = await self._connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = CAST(:classid AS oid) AND objid = CAST(:objid AS oid)"
                ),
                _key_parts(self._lock_key),
            )
            held = bool(result.scalar_one())
            await self._connection.commit()
            return held
        except Exception:
            logger.warning("Could not check the server lock on %s", self.location, exc_info=True)
            return False

    async def release(self) -> None:
        """Give the lock up; safe to call more than once."""
        if self._released:
            return
        self._released = True
        if self._connection is not None:
            await self._release_postgres(self._connection)
        if self._file_lock is not None:
            file_lock, holder_file = self._file_lock, self._holder_file

            def unlock() -> None:
                if holder_file is not None:
                    with contextlib.suppress(FileNotFoundError):
                        holder_file.unlink()
                file_lock.release(force=True)

            await asyncio.to_thread(unlock)
        logger.info("Released the server lock on %s", self.location)

    close = release

    async def _release_postgres(self, connection: AsyncConnection) -> None:
        try:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._lock_key})
            await connection.execute(text("RESET application_name"))
            await connection.commit()
        except Exception:
            # The session is gone or broken; PostgreSQL dropped its locks with it.
            logger.warning("Could not unlock the server lock on %s cleanly", self.location, exc_info=True)
            with contextlib.suppress(Exception):
                await connection.invalidate()
        finally:
            with contextlib.suppress(Exception):
                await connection.close()
            if self._owned_engine is not None:
                await self._owned_engine.dispose()

    async def __aenter__(self) -> ServerLock:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.release()


def _key_parts(key: int) -> dict[str, int]:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return {"classid": unsigned >> 32, "objid": unsigned & 0xFFFFFFFF}


def _describe_pg_holders(rows: list[Any]) -> str:
    if not rows:
        return "an unknown session"
    parts = []
    for row in rows:
        name = row.application_name or "a session without application_name"
        client = row.client_addr or "local socket"
        since = row.backend_start.isoformat() if row.backend_start else "unknown time"
        parts.append(f"{name!r} (backend pid {row.pid}, client {client}, connected since {since})")
    return "; ".join(parts)


async def _acquire_postgres(engine: AsyncEngine, *, owned: bool, holder: str, lock_key: int | None) -> ServerLock:
    where = describe_database(engine.url)
    with translate_database_errors(engine.url):
        connection = await engine.connect()
        try:
            if lock_key is None:
                # The schema the engine puts its tables in (`?search_path=` becomes a server setting).
                search_path = (await connection.execute(text("SELECT current_setting('search_path')"))).scalar_one()
                lock_key = schema_lock_key(engine.url.update_query_dict({SEARCH_PATH_OPTION: str(search_path)}))
            got = (await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key})).scalar_one()
            if not got:
                rows = list(await connection.execute(_PG_HOLDER_QUERY, _key_parts(lock_key)))
                raise ServerLockHeldError(
                    f"Another factflow server holds the start-up lock on {where}: {_describe_pg_holders(rows)}. "
                    "Stop it first; only one server may run per database schema.",
                    context={"location": where, "holder": _describe_pg_holders(rows), "lock_key": lock_key},
                )
            # Named so a second server (and `pg_stat_activity`) can tell who holds it.
            await connection.execute(text("SELECT set_config('application_name', :name, false)"), {"name": holder[:63]})
            await connection.commit()  # session locks survive commit; idle, not "idle in transaction"
        except BaseException:
            await connection.close()
            if owned:
                await engine.dispose()
            raise
    logger.info("Took the server lock (advisory key %#x) on %s as %r", lock_key, where, holder)
    return ServerLock(
        dialect="postgresql",
        location=where,
        holder=holder,
        connection=connection,
        owned_engine=engine if owned else None,
        lock_key=lock_key,
    )


def _read_holder(holder_file: Path) -> str:
    try:
        info = json.loads(holder_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "an unknown process"
    if not isinstance(info, dict):
        return "an unknown process"
    return f"{info.get('holder', 'unknown')!r} (since {info.get('acquired_at', 'unknown time')})"


def _acquire_file(database: str, holder: str) -> ServerLock:
    lock_path = Path(database).expanduser().absolute().with_name(SQLITE_LOCK_FILENAME)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    holder_file = lock_path.with_name(lock_path.name + _HOLDER_SUFFIX)
    # thread_local=False: acquired and released from different worker threads.
    file_lock = FileLock(lock_path, thread_local=False)
    try:
        file_lock.acquire(timeout=0)
    except Timeout as exc:
        who = _read_holder(holder_file)
        raise ServerLockHeldError(
            f"Another factflow server holds the start-up lock file {str(lock_path)!r}: {who}. "
            "Stop it first; only one server may use this SQLite database.",
            context={"location": str(lock_path), "holder": who},
        ) from exc
    info = {
        "holder": holder,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "acquired_at": datetime.now(UTC).isoformat(),
    }
    holder_file.write_text(json.dumps(info), encoding="utf-8")
    return ServerLock(
        dialect="sqlite", location=str(lock_path), holder=holder, file_lock=file_lock, holder_file=holder_file
    )


_DEFAULT_SEARCH_PATH = '"$user", public'
"""PostgreSQL's default `search_path`: the server lock of such a deployment is `SERVER_LOCK_KEY`."""


def schema_lock_key(url: URL) -> int:
    """`SERVER_LOCK_KEY`, or for a URL with `?search_path=<schema>` a stable key of that schema's own."""
    search_path = url.query.get(SEARCH_PATH_OPTION)
    if not isinstance(search_path, str) or search_path in ("", _DEFAULT_SEARCH_PATH):
        return SERVER_LOCK_KEY
    digest = hashlib.sha256(f"{SERVER_LOCK_KEY}:{search_path}".encode()).digest()
    return int.from_bytes(digest[:7], "big")  # a positive bigint, like the default key


async def acquire_server_lock(
    url_or_engine: str | URL | AsyncEngine,
    *,
    holder: str | None = None,
    lock_key: int | None = None,
) -> ServerLock:
    """Take the start-up lock for a database, or fail at once if another server holds it.

    PostgreSQL holds a session advisory lock on a dedicated connection (taken from the given
    engine's pool, or from a private engine when a URL is given) until `release()`. SQLite takes
    `factflow.lock` next to the database file; an in-memory SQLite database needs no lock.

    Args:
        url_or_engine: The database URL or engine.
        holder: How this process names itself to a second contender; defaults to
            `factflow-server <host> pid <pid>`.
        lock_key: PostgreSQL advisory lock key. By default `SERVER_LOCK_KEY`, or a key of the
            schema's own when the URL names one (`?search_path=`): servers on different schemas
            of one database are different deployments and do not exclude each other.

    Raises:
        ServerLockHeldError: another holder has the lock; the message names it and where.
        DatabaseUnavailableError: PostgreSQL cannot be reached.
    """
    holder = holder or default_lock_holder()
    engine = url_or_engine if isinstance(url_or_engine, AsyncEngine) else None
    url = engine.url if engine is not None else url_or_engine
    parsed = make_url(url) if isinstance(url, str) else url
    assert isinstance(parsed, URL)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            logger.info("In-memory SQLite database: no server lock needed")
            return ServerLock(dialect="sqlite", location=":memory:", holder=holder)
        lock = await asyncio.to_thread(_acquire_file, parsed.database, holder)
        logger.info("Took the server lock %s as %r", lock.location, holder)
        return lock
    if engine is None:
        return await _acquire_postgres(
            create_database_engine(parsed, pool_size=1), owned=True, holder=holder, lock_key=lock_key
        )
    return await _acquire_postgres(engine, owned=False, holder=holder, lock_key=lock_key)
