"""Alembic environment for factflow's migrations.

`run_migrations` passes an open connection through `config.attributes["connection"]`; the
`alembic` command line (developers only) gets the URL from `sqlalchemy.url` and connects with
`create_database_engine`. Migrations are written by hand from `.claude/database-schema.md`:
there is no `target_metadata`, because the ORM models live in packages above infra.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from factflow_infra.database._engine import create_database_engine


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_database_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    config = context.config
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("Set `sqlalchemy.url` (or call `factflow_infra.database.run_migrations`).")
    asyncio.run(_run_with_url(url))


_main()
