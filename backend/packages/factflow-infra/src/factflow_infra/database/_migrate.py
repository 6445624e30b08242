"""Apply the Alembic migrations shipped in `factflow_infra/database/migrations/`."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ._engine import create_database_engine
from ._errors import translate_database_errors

__all__ = ("MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "run_migrations")

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""The Alembic script directory inside the installed package."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` for the shipped migrations (no `alembic.ini` needed).

    Args:
        url: Sets `sqlalchemy.url`, for the `alembic` command line.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def _upgrade(connection: Connection) -> str | None:
    config = alembic_config()
    config.attributes["connection"] = connection
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(config, "head")
    return before


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None when it was never migrated.

    Raises:
        DatabaseUnavailableError: the database cannot be reached.
    """
    with translate_database_errors(engine.url):
        async with engine.connect() as connection:
            return await connection.run_sync(_current)


async def run_migrations(url_or_engine: str | URL | AsyncEngine) -> str:
    """Upgrade the database to the newest revision (`alembic upgrade head`), in one transaction.

    Safe on every start: an up-to-date database is left alone. The server takes the start-up
    lock first (docs/guides/deployment.md), so two servers never migrate at once.

    Args:
        url_or_engine: A database URL (an engine is created and disposed) or an engine.

    Returns:
        The revision the database is now at.

    Raises:
        DatabaseUnavailableError: the database cannot be reached.
        DatabaseError: a migration failed (nothing is applied on PostgreSQL).
    """
    if isinstance(url_or_engine, AsyncEngine):
        engine, owned = url_or_engine, False
    else:
        engine, owned = create_database_engine(url_or_engine, pool_size=1), True
    try:
        with translate_database_errors(engine.url):
            async with engine.begin() as connection:
                before = await connection.run_sync(_upgrade)
        head = head_revision()
        if before != head:
            logger.info("Migrated %s from revision %s to %s", engine.url.get_backend_name(), before, head)
        return head
    finally:
        if owned:
            await engine.dispose()
