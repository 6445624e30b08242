"""Database: ORM base and column types, engines, sessions, migrations, the start-up lock."""

from __future__ import annotations

from ._base import Base, JSONType, OrderedJSONType, UTCDateTime
from ._engine import (
    SEARCH_PATH_OPTION,
    SQLITE_BUSY_TIMEOUT_MS,
    create_database_engine,
    create_session_factory,
    is_sqlite,
    ping_database,
)
from ._errors import translate_database_error, translate_database_errors
from ._keyset import keyset_after
from ._lock import SERVER_LOCK_KEY, SQLITE_LOCK_FILENAME, ServerLock, acquire_server_lock, schema_lock_key
from ._migrate import MIGRATIONS_DIR, alembic_config, current_revision, head_revision, run_migrations

__all__ = (
    # models
    "Base",
    "JSONType",
    "OrderedJSONType",
    "UTCDateTime",
    # engines and sessions
    "create_database_engine",
    "create_session_factory",
    "ping_database",
    "is_sqlite",
    "SEARCH_PATH_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    # keyset paging
    "keyset_after",
    # errors
    "translate_database_error",
    "translate_database_errors",
    # migrations
    "run_migrations",
    "current_revision",
    "head_revision",
    "alembic_config",
    "MIGRATIONS_DIR",
    # start-up lock
    "acquire_server_lock",
    "ServerLock",
    "SERVER_LOCK_KEY",
    "schema_lock_key",
    "SQLITE_LOCK_FILENAME",
)
