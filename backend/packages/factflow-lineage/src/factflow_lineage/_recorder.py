"""`LineageRecorder`: the batched, never-blocking background writer of lineage rows."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, cast

from sqlalchemy import URL, Executable, Insert, Table, Uuid, make_url, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_foundation import Backoff
from factflow_infra.database import create_database_engine
from factflow_protocols import LineageRecord, StageStatus

from ._codec import STATUS_CODES, StageIdentity, row_values, stage_identity
from ._model import LineageRow, LineageStageRow
from ._sqlite_writer import RowRejectedError, SqliteBatchWriter

__all__ = ("LineageRecorder",)

logger = logging.getLogger(__name__)

_WARN_EVERY_SECONDS: Final = 30.0
_WRITE_TIMEOUT_SECONDS: Final = 15.0
_BACKOFF_INITIAL_SECONDS: Final = 0.5
_BACKOFF_MAX_SECONDS: Final = 30.0
_POOL_SIZE: Final = 2
_STAGE_CACHE_SIZE: Final = 4096
"""Stage keys remembered (one per execution × route × adapter); the cache starts over past this."""
_STAGE_COLUMNS: Final = ("execution_id", "route_id", "adapter_name", "adapter_index", "stage_name")


@dataclass(slots=True)
class _Row:
    """The newest state of one row in the batch being written, and how many events it stands for."""

    record: LineageRecord
    events: int
    first_seq: int


class _RateLimitedWarning:
    """Logs a warning at most every `_WARN_EVERY_SECONDS`, saying how often it was suppressed."""

    def __init__(self) -> None:
        self._last_at: float | None = None
        self._suppressed = 0

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if self._last_at is not None and now - self._last_at < _WARN_EVERY_SECONDS:
            self._suppressed += 1
            return
        if self._suppressed:
            logger.warning(message + " (%d similar warnings suppressed)", *args, self._suppressed)
        else:
            logger.warning(message, *args)
        self._last_at = now
        self._suppressed = 0


_PG_ARRAY_TYPES: Final = {
    "started_at": "timestamptz[]",
    "completed_at": "timestamptz[]",
    "duration_ms": "float8[]",
    "stage_key": "int4[]",
    "delivery_count": "int2[]",
    "emitted_count": "int2[]",
    "stage_status": "int2[]",
    "outcome": "int2[]",
    "attempts": "int2[]",
    "input_hash": "bytea[]",
    "output_hash": "bytea[]",
    "error_info": "text[]",  # JSON text, cast to jsonb below
    "metadata": "text[]",
}
_JSON_COLUMNS: Final = ("error_info", "metadata")
_TIMESTAMP_COLUMNS: Final = ("started_at", "completed_at")
_COMPLETED_CODE: Final = STATUS_CODES[StageStatus.COMPLETED.value]


def _pg_upsert_sql() -> str:
    """One `INSERT … SELECT FROM unnest(<one array per column>) ON CONFLICT (id) DO UPDATE` per batch.

    A constant statement (prepared once) whose parameters are one array per column: the batch is
    one statement, so the counter triggers of `pipeline_lineage` run once per batch (they are
    statement-level on PostgreSQL), and nothing is compiled per row count.
    """
    table = cast(Table, LineageRow.__table__)
    names = [column.name for column in table.c]
    arrays = []
    for name in names:
        kind = _PG_ARRAY_TYPES.get(name) or ("uuid[]" if isinstance(table.c[name].type, Uuid) else "text[]")
        array = f"CAST(:{name} AS {kind})"
        arrays.append(f"{array}::jsonb[]" if name in _JSON_COLUMNS else array)
    quoted = ", ".join(f'"{name}"' for name in names)
    updates = ", ".join(f'"{name}" = excluded."{name}"' for name in names if name != "id")
    return (
        f"INSERT INTO {table.name} ({quoted}) SELECT * FROM unnest({', '.join(arrays)})"
        f" ON CONFLICT (id) DO UPDATE SET {updates}"
        # `completed` is final: a later write from another process (a new leader's recovery
        # closing the rows it found unfinished while a live worker completed them) never undoes it.
        f" WHERE {table.name}.stage_status <> {_COMPLETED_CODE}"
    )


def _pg_arrays(values: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The parameters of `_pg_upsert_sql`: one list per column.

    Built column by column: only the JSON and timestamp columns need converting. A column that
    is NULL in every row of the batch (most `*_text` columns, usually) is sent as an empty array.

    Raises:
        RowRejectedError: a row holds a naive datetime or a value JSON cannot encode.
    """
    if not values:
        return {}
    columns: dict[str, list[Any]] = {name: [row[name] for row in values] for name in values[0]}
    for name in _JSON_COLUMNS:
        try:
            columns[name] = [None if value is None else json.dumps(value) for value in columns[name]]
        except (TypeError, ValueError) as exc:
            raise RowRejectedError(f"{name}: {exc}") from exc
    for name in _TIMESTAMP_COLUMNS:
        columns[name] = [_utc(name, value) for value in columns[name]]
    for name, column in columns.items():
        if column.count(None) == len(column):
            # `unnest` pads shorter arrays with NULLs (`id` is never NULL, so never shorter): an
            # empty array stands for a column of NULLs and costs asyncpg no work per row.
            columns[name] = []
    return columns


def _utc(name: str, value: Any) -> Any:
    if value is None or (isinstance(value, datetime) and value.tzinfo is UTC):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise RowRejectedError(f"{name}: naive datetime given to a UTC column")
        return value.astimezone(UTC)
    return value


def _sqlite_upsert_statement() -> Executable:
    """`INSERT … ON CONFLICT (id) DO UPDATE` of every column (SQLite through the engine: tests, `:memory:`)."""
    table = cast(Table, LineageRow.__table__)
    lite_insert = sqlite.insert(table)
    columns = [column.name for column in table.c if column.name != "id"]
    return lite_insert.on_conflict_do_update(
        index_elements=["id"], set_={name: lite_insert.excluded[name] for name in columns}
    )


def _insert_stages(dialect_name: str, identities: list[StageIdentity]) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING` of stage rows (the counters start at their defaults)."""
    table = cast(Table, LineageStageRow.__table__)
    rows = [dict(zip(_STAGE_COLUMNS, identity, strict=True)) for identity in identities]
    if dialect_name == "postgresql":
        return postgresql.insert(table).values(rows).on_conflict_do_nothing()
    return sqlite.insert(table).values(rows).on_conflict_do_nothing()


def _describe(exc: BaseException) -> str:
    """The first line of the driver's message: no SQL text, no parameters (they hold row data)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_MISSING_STAGE_SQLSTATE: Final = "FF001"
_MISSING_STAGE_MESSAGE: Final = "lineage rows name a stage row that does not exist"
"""What revision 0005's triggers raise for rows whose stage row was deleted while its key was cached."""


def _is_missing_stage(exc: BaseException) -> bool:
    original = getattr(exc, "orig", None) or exc
    return getattr(original, "sqlstate", None) == _MISSING_STAGE_SQLSTATE or _MISSING_STAGE_MESSAGE in str(original)


def _is_row_error(exc: BaseException) -> bool:
    """Whether `exc` comes from the data of a row (retrying cannot help) rather than from the database."""
    if _is_missing_stage(exc):
        return False  # a stale stage key: written again once the keys are looked up afresh
    if isinstance(exc, DBAPIError):
        # PostgreSQL names the failure: class 22 is a data exception (a value too long, ...),
        # class 23 an integrity violation. asyncpg's executemany does not always map these to
        # DataError/IntegrityError, hence the SQLSTATE.
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate:
            return sqlstate.startswith(("22", "23"))
        return isinstance(exc, IntegrityError | DataError)
    # Any other StatementError failed while binding parameters (a naive datetime, a value
    # JSON cannot encode): the row is at fault, not the connection. The same from the SQLite
    # batch writer: a value it cannot bind, or a constraint the row breaks.
    return isinstance(exc, StatementError | RowRejectedError | sqlite3.IntegrityError | sqlite3.InterfaceError)


class LineageRecorder:
    """Buffers lineage row states and writes them in batches on a background task.

    `record()` never awaits and never raises: it appends to a bounded buffer and returns. The
    flush task (named `lineage-recorder`) writes every `flush_interval_ms`, or as soon as
    `batch_size` events wait, one transaction of upserts keyed by row id per batch; events for
    the same row coalesce and the newest state wins. When the database fails, the batch is kept
    and retried with backoff from 0.5 s to 30 s while new events go on buffering; once
    `buffer_size` events wait, new ones are dropped and counted (`dropped_total`,
    `dropped_for(execution_id)`), with a warning at most every 30 s. A row that the database
    rejects for its data (an integrity or data error) is dropped and counted so it cannot block
    the others.

    Args:
        engine_or_url: A database URL, for which the recorder creates (and disposes) an engine of
            its own with a pool of two connections — what the server passes — or an existing
            `AsyncEngine`, which is used as given and left open (tests, embedded tools).
        buffer_size: Events held (waiting or being written) before new ones are dropped.
        batch_size: Rows written per transaction; also the backlog that triggers a write at once.
        flush_interval_ms: Longest time an event waits before a write is attempted.

    Example:
        ```python
        async with LineageRecorder(settings.database_url) as recorder:
            recorder.record(entry)
            await recorder.flush(execution_id, timeout=5.0)
        ```
    """

    def __init__(
        self,
        engine_or_url: AsyncEngine | URL | str,
        *,
        buffer_size: int = 10_000,
        batch_size: int = 500,
        flush_interval_ms: int = 200,
    ) -> None:
        if buffer_size < 1 or batch_size < 1 or flush_interval_ms < 1:
            raise ValueError("buffer_size, batch_size and flush_interval_ms must be at least 1")
        if isinstance(engine_or_url, AsyncEngine):
            self._engine: AsyncEngine | None = engine_or_url
            self._url = engine_or_url.url
            self._owns_engine = False
        else:
            self._engine = None
            self._url = make_url(engine_or_url)
            self._owns_engine = True
        self._dialect_name = self._url.get_backend_name()
        if self._dialect_name not in ("postgresql", "sqlite"):
            raise ValueError(f"lineage supports PostgreSQL and SQLite, not {self._dialect_name!r}")
        self._stage_keys: dict[StageIdentity, int] = {}
        self._upsert: Executable = (
            text(_pg_upsert_sql()) if self._dialect_name == "postgresql" else _sqlite_upsert_statement()
        )
        self._sqlite_writer: SqliteBatchWriter | None = None
        self._buffer_size = buffer_size
        self._batch_size = batch_size
        self._interval = flush_interval_ms / 1000

        self._queue: deque[tuple[int, LineageRecord]] = deque()
        self._batch: dict[str, _Row] = {}
        self._buffered = 0
        self._seq = 0
        self._last_seq: dict[str, int] = {}
        self._dropped: Counter[str] = Counter()

        self._has_events = asyncio.Event()
        self._wake = asyncio.Event()
        self._retry_now = asyncio.Event()
        self._progress = asyncio.Event()
        self._flush_waiters = 0

        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failing_since: float | None = None
        self._drop_warning = _RateLimitedWarning()
        self._failure_warning = _RateLimitedWarning()

        self.written_total = 0
        """Row states written to the database (coalesced events count once)."""
        self.dropped_total = 0
        """Events that will never be written: buffer full, flush timed out, or rejected row."""
        self.flush_failures_total = 0
        """Failed write attempts."""
        self.last_flush_at: datetime | None = None
        """When a batch was last committed."""

    # ------------------------------------------------------------------ recording

    @property
    def buffered(self) -> int:
        """Events recorded but not yet written (waiting, or in the batch being written)."""
        return self._buffered

    def is_written(self, execution_id: str) -> bool:
        """Whether every event of `execution_id` recorded so far is written (nothing of it buffered)."""
        return self._written_up_to(self._last_seq.get(execution_id, 0))

    def dropped_for(self, execution_id: str) -> int:
        """Events of `execution_id` that were dropped (they make its lineage incomplete)."""
        return self._dropped[execution_id]

    def record(self, entry: LineageRecord) -> None:
        """Queue the current state of one row; never awaits, never raises.

        Call it from the event loop's thread. The record must not be mutated afterwards; build a
        new one per transition (as `LineageService` does).
        """
        try:
            if self._closed or self._buffered >= self._buffer_size:
                self._drop(Counter({entry.execution_id: 1}), "the buffer is full" if not self._closed else "stopped")
                return
            self._seq += 1
            self._queue.append((self._seq, entry))
            self._buffered += 1
            self._last_seq[entry.execution_id] = self._seq
            self._has_events.set()
            if len(self._queue) >= self._batch_size:
                self._wake.set()
        except Exception:  # the pipeline never fails because of lineage
            logger.exception("could not buffer lineage event for row %r", getattr(entry, "id", None))

    def _drop(self, by_execution: Counter[str], reason: str) -> None:
        count = sum(by_execution.values())
        if not count:
            return
        self._dropped.update(by_execution)
        self.dropped_total += count
        self._drop_warning.warn(
            "dropped %d lineage event(s) (%s); %d dropped so far", count, reason, self.dropped_total
        )

    # ------------------------------------------------------------------ flushing

    async def flush(self, execution_id: str | None = None, timeout: float = 5.0) -> bool:  # noqa: ASYNC109  # spec API
        """Wait until every event recorded before this call (or every one of `execution_id`) is written.

        Pending writes are attempted at once, skipping the interval and any backoff wait. On
        timeout the events stay buffered and are written once the database takes them: only a
        full buffer drops events.

        Returns:
            `True` when everything concerned was written in time.
        """
        target = self._seq if execution_id is None else self._last_seq.get(execution_id, 0)
        if self._written_up_to(target):
            return True
        if self._task is None or self._task.done():
            self._discard(execution_id, target, "the recorder is not running")
            return False
        self._flush_waiters += 1
        self._wake.set()
        self._retry_now.set()
        try:
            async with asyncio.timeout(timeout):
                while not self._written_up_to(target):
                    await self._progress.wait()
        except TimeoutError:
            return False
        finally:
            self._flush_waiters -= 1
        return True

    def _written_up_to(self, target: int) -> bool:
        """Whether no event with a sequence number up to `target` is still buffered."""
        if self._batch:
            oldest = min(row.first_seq for row in self._batch.values())
        elif self._queue:
            oldest = self._queue[0][0]
        else:
            return True
        return oldest > target

    def _discard(self, execution_id: str | None, target: int, reason: str) -> None:
        """Drop the buffered events up to `target` (of one execution, or all), counting them."""
        dropped: Counter[str] = Counter()

        def concerned(seq: int, record: LineageRecord) -> bool:
            return seq <= target and (execution_id is None or record.execution_id == execution_id)

        kept: deque[tuple[int, LineageRecord]] = deque()
        for seq, record in self._queue:
            if concerned(seq, record):
                dropped[record.execution_id] += 1
            else:
                kept.append((seq, record))
        self._queue = kept
        for row_id, row in list(self._batch.items()):
            if concerned(row.first_seq, row.record):
                dropped[row.record.execution_id] += row.events
                del self._batch[row_id]
        self._buffered -= sum(dropped.values())
        self._drop(dropped, reason)
        self._notify()

    def _notify(self) -> None:
        """Wake everyone waiting for progress (flush callers re-check their target)."""
        self._progress.set()
        self._progress = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the engine (for a URL) and start the flush task; a second call does nothing."""
        if self._task is not None or self._closed:
            return
        if self._engine is None:
            self._engine = create_database_engine(self._url, pool_size=_POOL_SIZE, max_overflow=0)
        database = self._url.database
        if (
            self._engine.dialect.name == "sqlite"
            and database
            and database != ":memory:"
            and not database.startswith("file:")
        ):
            # A file database: batches go through a thread of their own (see SqliteBatchWriter).
            self._sqlite_writer = SqliteBatchWriter(database, self._engine.dialect)
            try:
                await self._sqlite_writer.connect()
            except sqlite3.Error as exc:  # the flush task retries, with backoff, like any outage
                logger.warning("lineage database %r not reachable yet: %s", database, exc)
        self._task = asyncio.create_task(self._run(), name="lineage-recorder")

    async def shutdown(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109  # spec API
        """Flush for up to `timeout` seconds, then stop; idempotent and safe before `start()`."""
        if self._closed:
            return
        complete = await self.flush(timeout=timeout)
        if not complete:
            # What could not be written in time dies with the process: count it as dropped.
            self._discard(None, self._seq, f"not written within the {timeout:g} s shutdown flush")
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                # Our own cancellation of the flush task ends here; a cancellation of the
                # caller is re-raised.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        if self._sqlite_writer is not None:
            await self._sqlite_writer.close()
        if self._owns_engine and self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        logger.info(
            "lineage recorder stopped: %d rows written, %d events dropped, %d write failures%s",
            self.written_total,
            self.dropped_total,
            self.flush_failures_total,
            "" if complete else " (final flush incomplete)",
        )

    async def __aenter__(self) -> LineageRecorder:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ the flush task

    async def _run(self) -> None:
        backoff = Backoff(_BACKOFF_INITIAL_SECONDS, _BACKOFF_MAX_SECONDS)
        while True:
            try:
                if not self._batch:
                    await self._wait_for_events()
                    self._take_batch()
                if not self._batch:
                    continue
                # A flush arriving during this attempt cuts the following backoff short.
                self._retry_now.clear()
                if await self._write_batch():
                    backoff.reset()
                    continue
            except Exception:  # a bug here must not end lineage for the whole process
                logger.exception("lineage flush task failed; retrying")
            await self._wait_retry(backoff.next_delay())

    async def _wait_for_events(self) -> None:
        """Return once events wait and the interval passed, the batch is full or a flush asks."""
        while not self._queue:
            self._has_events.clear()
            await self._has_events.wait()
        if len(self._queue) >= self._batch_size or self._flush_waiters:
            return
        self._wake.clear()
        try:
            async with asyncio.timeout(self._interval):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _wait_retry(self, delay: float) -> None:
        """Back off for `delay` seconds, or less if a flush asked for an attempt now."""
        try:
            async with asyncio.timeout(delay):
                await self._retry_now.wait()
        except TimeoutError:
            pass

    def _take_batch(self) -> None:
        """Move up to `batch_size` rows from the queue into the batch, newest state per row."""
        batch = self._batch
        while self._queue and (len(batch) < self._batch_size or self._queue[0][1].id in batch):
            seq, record = self._queue.popleft()
            row = batch.get(record.id)
            if row is None:
                batch[record.id] = _Row(record, 1, seq)
            else:
                row.record = record
                row.events += 1

    async def _write_batch(self) -> bool:
        """Write the batch in one transaction; on a row-level error, row by row. True when all done."""
        rows = list(self._batch.values())
        try:
            await self._execute([row.record for row in rows])
        except Exception as exc:
            if not _is_row_error(exc):
                self._failed(exc)
                return False
            self.flush_failures_total += 1
            return await self._write_rows_one_by_one(rows)
        self._written(rows)
        return True

    async def _write_rows_one_by_one(self, rows: list[_Row]) -> bool:
        """Isolate the rows the database rejects: drop those, write the rest, stop at an outage."""
        for row in rows:
            if self._batch.get(row.record.id) is not row:
                continue  # discarded by a timed-out flush meanwhile
            try:
                await self._execute([row.record])
            except Exception as exc:
                if not _is_row_error(exc):
                    self._failed(exc)
                    return False
                logger.error("lineage row %r rejected by the database, dropped: %s", row.record.id, _describe(exc))
                del self._batch[row.record.id]
                self._buffered -= row.events
                self._drop(Counter({row.record.execution_id: row.events}), "row rejected by the database")
                continue
            self._written([row])
        self._notify()
        return True

    async def _execute(self, records: list[LineageRecord]) -> None:
        engine = self._engine
        if engine is None:  # only between shutdown's dispose and the task's end
            raise RuntimeError("lineage recorder is stopped")
        missing = list(dict.fromkeys(stage_identity(record) for record in records) - self._stage_keys.keys())
        if self._sqlite_writer is not None:
            async with asyncio.timeout(_WRITE_TIMEOUT_SECONDS):
                if missing:
                    self._remember(await self._sqlite_writer.stage_keys(missing))
                await self._sqlite_writer.write(self._values(records, {}))
            return
        created: dict[StageIdentity, int] = {}
        async with asyncio.timeout(_WRITE_TIMEOUT_SECONDS), engine.begin() as connection:
            if missing:
                await connection.execute(_insert_stages(self._dialect_name, missing))
                stages = LineageStageRow.__table__.c
                found = await connection.execute(
                    select(stages.stage_key, *(stages[name] for name in _STAGE_COLUMNS)).where(
                        stages.execution_id.in_({identity[0] for identity in missing})
                    )
                )
                created = {
                    (execution, route, name, index, stage): key for key, execution, route, name, index, stage in found
                }
            values = self._values(records, created)
            if self._dialect_name == "postgresql":
                await connection.execute(self._upsert, _pg_arrays(values))
            else:
                await connection.execute(self._upsert, values)
        # Remembered once committed: a rolled-back batch may have created (and lost) stage rows.
        self._remember(created)

    def _remember(self, keys: dict[StageIdentity, int]) -> None:
        if len(self._stage_keys) + len(keys) > _STAGE_CACHE_SIZE:
            self._stage_keys.clear()
        self._stage_keys.update(keys)

    def _values(self, records: list[LineageRecord], created: dict[StageIdentity, int]) -> list[dict[str, Any]]:
        # asyncpg takes a UUID's text for a `uuid` parameter; SQLite binds need `uuid.UUID` objects.
        text_ids = self._dialect_name == "postgresql" and self._sqlite_writer is None
        values = []
        for record in records:
            identity = stage_identity(record)
            values.append(row_values(record, created.get(identity) or self._stage_keys[identity], uuid_text=text_ids))
        return values

    def _written(self, rows: list[_Row]) -> None:
        for row in rows:
            # A flush that timed out while this write was under way already discarded (and
            # counted) its rows; only the ones still in the batch are accounted here.
            if self._batch.get(row.record.id) is row:
                del self._batch[row.record.id]
                self._buffered -= row.events
        self.written_total += len(rows)
        self.last_flush_at = datetime.now(UTC)
        if self._failing_since is not None:
            logger.info("lineage writes recovered after %.1f s of failures", time.monotonic() - self._failing_since)
            self._failing_since = None
        self._forget_written_executions()
        self._notify()

    def _failed(self, exc: BaseException) -> None:
        self.flush_failures_total += 1
        # A stage row may be gone (its execution's lineage deleted): look the keys up afresh.
        self._stage_keys.clear()
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        self._failure_warning.warn(
            "lineage write failed (%s: %s); %d event(s) buffered, retrying with backoff",
            type(exc).__name__,
            _describe(exc),
            self._buffered,
        )

    def _forget_written_executions(self) -> None:
        # Keeps `_last_seq` small in a long-lived process: an execution whose events are all
        # written needs no entry (a later flush of it finds nothing to wait for).
        if len(self._last_seq) > 1024:
            for execution_id, seq in list(self._last_seq.items()):
                if self._written_up_to(seq):
                    del self._last_seq[execution_id]
