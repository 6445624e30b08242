"""`SqliteBatchWriter`: lineage batches written to a SQLite file in one worker-thread hop each.

Through the async engine (aiosqlite), one batch costs about ten hops between the event loop and
the driver's thread (check-out, cursor, execute, commit, reset, …), and `executemany` makes the
sqlite3 driver release and re-take the GIL around every row it steps. While the pipeline keeps
the event loop busy, each hop waits for a loop turn and each re-take for a switch interval
(5 ms): a batch of 500 rows took from 0.3 to 3 s, so at a few thousand messages per second the
recorder's buffer overflowed and events were dropped.

Here a batch is one job on a dedicated thread owning its own sqlite3 connection: `BEGIN
IMMEDIATE`, one multi-row `INSERT … ON CONFLICT (id) DO UPDATE` per 500 rows, `COMMIT`. Values
are bound with SQLAlchemy's own bind processors of each column, so rows are stored exactly as
the ORM writes them (and read back by it); durability is the same (`synchronous` stays at the
SQLite default, the journal in WAL mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from sqlalchemy.engine import Dialect

from factflow_infra.database import SQLITE_BUSY_TIMEOUT_MS

from ._codec import StageIdentity
from ._model import LineageRow

__all__ = ("RowRejectedError", "SqliteBatchWriter")

logger = logging.getLogger(__name__)

_ROWS_PER_STATEMENT: Final = 500
"""500 rows x 28 columns stays below SQLite's 32,766 host parameters (3.32 and later)."""


_INSERT_STAGE: Final = (
    "INSERT INTO pipeline_lineage_stages (execution_id, route_id, adapter_name, adapter_index, stage_name)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_SELECT_STAGES: Final = (
    "SELECT stage_key, execution_id, route_id, adapter_name, adapter_index, stage_name"
    " FROM pipeline_lineage_stages WHERE execution_id IN ({placeholders})"
)


class RowRejectedError(ValueError):
    """A row's values cannot be bound (a naive datetime, a value JSON cannot encode)."""


class _Upsert:
    """The multi-row upsert statement and the positional parameters of a list of rows."""

    def __init__(self, dialect: Dialect) -> None:
        table = LineageRow.__table__
        self.columns = [column.name for column in table.c]
        processors: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).bind_processor(dialect) for column in table.c
        ]
        self._bindings = list(zip(self.columns, processors, strict=True))
        names = ", ".join(f'"{name}"' for name in self.columns)
        updates = ", ".join(f'"{name}" = excluded."{name}"' for name in self.columns if name != "id")
        self._head = f'INSERT INTO "{LineageRow.__tablename__}" ({names}) VALUES '
        self._tail = f' ON CONFLICT ("id") DO UPDATE SET {updates}'
        self._row = "(" + ", ".join("?" for _ in self.columns) + ")"
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._sql.get(rows)
        if text is None:
            text = self._sql[rows] = self._head + ", ".join([self._row] * rows) + self._tail
        return text

    def parameters(self, values: Sequence[dict[str, Any]]) -> tuple[Any, ...]:
        flat: list[Any] = []
        for row in values:
            for name, process in self._bindings:
                value = row[name]
                flat.append(value if process is None else process(value))
        return tuple(flat)


class SqliteBatchWriter:
    """Writes batches of lineage rows to one SQLite database file (see the module docstring).

    Args:
        path: The database file.
        dialect: The SQLite dialect of the recorder's engine (for the columns' bind processors).
    """

    def __init__(self, path: str, dialect: Dialect) -> None:
        self._path = path
        self._upsert = _Upsert(dialect)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lineage-sqlite")
        self._connection: sqlite3.Connection | None = None

    async def stage_keys(self, identities: Sequence[StageIdentity]) -> dict[StageIdentity, int]:
        """Create the stage rows of `identities` that do not exist yet; every one's `stage_key`."""
        return await asyncio.shield(
            asyncio.get_running_loop().run_in_executor(self._executor, self._stage_keys, list(identities))
        )

    def _stage_keys(self, identities: list[StageIdentity]) -> dict[StageIdentity, int]:
        connection = self._connect()
        connection.executemany(_INSERT_STAGE, identities)
        executions = sorted({identity[0] for identity in identities})
        placeholders = ", ".join("?" for _ in executions)
        found = connection.execute(_SELECT_STAGES.format(placeholders=placeholders), executions)
        return {(execution, route, name, index, stage): key for key, execution, route, name, index, stage in found}

    async def write(self, values: Sequence[dict[str, Any]]) -> None:
        """Upsert `values` (column dicts from `record_values`) in one transaction.

        Raises:
            RowRejectedError: a row's values cannot be bound.
            sqlite3.Error: the database refused the batch (`IntegrityError` for a row's data).
        """
        try:
            statements = [
                (self._upsert.sql(len(chunk)), self._upsert.parameters(chunk))
                for chunk in (
                    values[start : start + _ROWS_PER_STATEMENT] for start in range(0, len(values), _ROWS_PER_STATEMENT)
                )
            ]
        except (TypeError, ValueError) as exc:
            raise RowRejectedError(str(exc)) from exc
        # Shielded: the job runs to its end on the thread whatever the caller does; a later job
        # never overlaps it, as the executor has one thread.
        await asyncio.shield(asyncio.get_running_loop().run_in_executor(self._executor, self._run, statements))

    def _run(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        connection = self._connect()
        if len(statements) == 1:
            # One statement is its own transaction (autocommit): a single call into SQLite, so
            # this thread gives up and re-takes the GIL once per batch. Each re-take can wait a
            # long time while the event loop keeps the GIL busy.
            sql, parameters = statements[0]
            connection.execute(sql, parameters)
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            for sql, parameters in statements:
                connection.execute(sql, parameters)
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(
                self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA foreign_keys=ON")
            self._connection = connection
        return self._connection

    async def connect(self) -> None:
        """Open the connection now, before the pipeline keeps the event loop busy."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)

    async def close(self) -> None:
        """Close the connection on its thread and stop the thread; idempotent."""

        def close() -> None:
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()

        with contextlib.suppress(RuntimeError):  # the executor was shut down already
            await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=False)
