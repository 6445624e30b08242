"""Translate driver and SQLAlchemy exceptions into factflow database errors (STYLE: translate at infra)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from sqlalchemy import URL, make_url
from sqlalchemy import exc as sa_exc

from factflow_foundation import FactflowError

from ..errors import DatabaseError, DatabaseIntegrityError, DatabaseUnavailableError

__all__ = ("describe_database", "translate_database_error", "translate_database_errors")

# SQLSTATE classes meaning "the server cannot serve us": connection exceptions, invalid
# authorisation, unknown database, insufficient resources (too many connections, out of memory
# or disk), operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
# connect now, 57P04 database dropped), system errors.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "28", "3D", "53", "57P", "58")
# 55000 (object not in prerequisite state) is an outage only when refusing a connection:
# `ALTER DATABASE … ALLOW_CONNECTIONS false` answers every new session with it.
_REFUSED_CONNECTION = re.compile(r"not currently accepting connections")
# sqlite3 reports everything as OperationalError; only these messages are outages.
_SQLITE_OUTAGE = re.compile(r"database is locked|unable to open|disk I/O error|database or disk is full|readonly")
_SQLITE_UNIQUE = re.compile(r"(?:UNIQUE|NOT NULL|FOREIGN KEY|CHECK) constraint failed: (?P<columns>.+)")


def describe_database(url: str | URL | None) -> str:
    """Where the database is, without the password (`host:port/name` or the SQLite path)."""
    if url is None:
        return "the database"
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite database {parsed.database or ':memory:'!r}"
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    location = f"{host}{port}/{parsed.database or ''}"
    return f"PostgreSQL database {location!r}"


def _sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, OSError | sa_exc.TimeoutError | sa_exc.InterfaceError):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True  # the connection died mid-flight
    sqlstate = _sqlstate(exc)
    if sqlstate:
        return sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES) or bool(_REFUSED_CONNECTION.search(str(exc.orig)))
    if isinstance(exc, sa_exc.OperationalError):
        module = type(exc.orig).__module__
        return not module.startswith("sqlite3") or bool(_SQLITE_OUTAGE.search(str(exc.orig)))
    return exc.statement is None  # failed while connecting, before any statement


def _integrity_error(exc: sa_exc.IntegrityError, where: str) -> DatabaseIntegrityError:
    cause = exc.orig.__cause__ if exc.orig is not None else None
    constraint = getattr(cause, "constraint_name", None) or getattr(exc.orig, "constraint_name", None)
    match = _SQLITE_UNIQUE.search(str(exc.orig))
    columns = tuple(part.strip() for part in match.group("columns").split(",")) if match else ()
    named = constraint or ", ".join(columns) or "a constraint"
    return DatabaseIntegrityError(
        f"A write to {where} broke {named!s}: {str(exc.orig).splitlines()[0]}",
        constraint_name=constraint,
        columns=columns,
    )


def translate_database_error(exc: BaseException, *, url: str | URL | None = None) -> DatabaseError | None:
    """The factflow error for a driver or SQLAlchemy exception; None if `exc` is not one.

    Outages (refused or lost connections, timeouts, unknown database, SQLite locked) become
    `DatabaseUnavailableError`; constraint violations `DatabaseIntegrityError`; any other
    SQLAlchemy error `DatabaseError`.
    """
    where = describe_database(url)
    if isinstance(exc, sa_exc.IntegrityError) and not exc.connection_invalidated:
        return _integrity_error(exc, where)
    if _is_outage(exc):
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0] or type(exc).__name__
        return DatabaseUnavailableError(f"{where[0].upper()}{where[1:]} is unavailable: {reason}")
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return DatabaseError(f"A database operation on {where} failed: {str(exc).splitlines()[0]}")
    return None


@contextlib.contextmanager
def translate_database_errors(url: str | URL | None = None) -> Iterator[None]:
    """Re-raise driver and SQLAlchemy exceptions raised inside the block as factflow errors.

    Works around `await`s too (`with translate_database_errors(): await session.commit()`).
    `FactflowError`s and `CancelledError` pass through untouched.

    Args:
        url: The database, named in messages (password hidden).
    """
    try:
        yield
    except FactflowError:
        raise
    except Exception as exc:
        translated = translate_database_error(exc, url=url)
        if translated is None:
            raise
        raise translated from exc
