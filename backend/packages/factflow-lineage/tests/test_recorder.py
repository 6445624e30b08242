from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_foundation import new_id, rfc3339_or_none
from factflow_infra.database import create_database_engine, create_session_factory, run_migrations
from factflow_lineage import LineageRecorder, LineageRepository, PipelineLineageEntry
from factflow_protocols import LineageRecord, StageStatus

RecordFactory = Callable[..., LineageRecord]


class LogWatcher(logging.Handler):
    """Collects `factflow_lineage` log records and lets a test wait for one."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._changed.set()

    def messages(self, level: int) -> list[str]:
        return [record.getMessage() for record in self.records if record.levelno == level]

    async def wait_for(self, fragment: str) -> None:
        async with asyncio.timeout(5):
            while not any(fragment in record.getMessage() for record in self.records):
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def lineage_log() -> Iterator[LogWatcher]:
    watcher = LogWatcher()
    logger = logging.getLogger("factflow_lineage")
    previous = logger.level
    logger.addHandler(watcher)
    logger.setLevel(logging.DEBUG)
    try:
        yield watcher
    finally:
        logger.removeHandler(watcher)
        logger.setLevel(previous)


class TcpProxy:
    """A TCP forwarder that can cut every connection and refuse new ones, like a network outage."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepting = True
        self.refused = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    def cut(self) -> None:
        self.accepting = False
        for writer in list(self._writers):
            writer.close()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            self.refused.set()
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers.update((writer, upstream_writer))
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self._tasks.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._tasks.difference_update(pipes)
            for end in (writer, upstream_writer):
                self._writers.discard(end)
                end.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


async def _rename_table(engine: AsyncEngine, old: str, new: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


@contextlib.asynccontextmanager
async def table_away(engine: AsyncEngine) -> AsyncIterator[None]:
    """The lineage table disappears for the block: every write fails until it is back."""
    await _rename_table(engine, "pipeline_lineage", "pipeline_lineage_away")
    try:
        yield
    finally:
        await _rename_table(engine, "pipeline_lineage_away", "pipeline_lineage")


async def wait_written(recorder: LineageRecorder, rows: int) -> None:
    """Wait (on the recorder's progress signal, not on a clock) until `rows` rows were written."""
    async with asyncio.timeout(5):
        while recorder.written_total < rows:
            await recorder._progress.wait()


async def _stored(engine: AsyncEngine) -> dict[str, PipelineLineageEntry]:
    rows, _ = await LineageRepository(create_session_factory(engine)).list(limit=100_000)
    return {row.id: row for row in rows}


async def _stored_ids(engine: AsyncEngine) -> set[str]:
    return set(await _stored(engine))


def _api_dict(record: LineageRecord) -> dict[str, Any]:
    values = {field.name: getattr(record, field.name) for field in fields(record)}
    return {
        **values,
        "stage_status": str(record.stage_status),
        "started_at": rfc3339_or_none(record.started_at),
        "completed_at": rfc3339_or_none(record.completed_at),
        "metadata": record.metadata,
    }


# ---------------------------------------------------------------------- writing


async def test_events_of_one_row_coalesce_and_the_newest_state_wins(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    processing = make_record()
    pending = replace(processing, stage_status=StageStatus.PENDING, metadata={"attempts": 1})
    completed = replace(
        processing,
        stage_status=StageStatus.COMPLETED,
        completed_at=datetime(2026, 3, 1, 9, 30, 1, tzinfo=UTC),
        duration_ms=877.5,
        output_hash="sha256:" + "a" * 64,
        error_info=None,
        metadata={"attempts": 2, "result": "message"},
    )
    other = make_record()
    async with LineageRecorder(db_engine) as recorder:
        for event in (processing, pending, other, completed):
            recorder.record(event)
        assert recorder.buffered == 4
        assert await recorder.flush()
        assert recorder.buffered == 0
        # Four events, two rows: one upsert per row (PostgreSQL would refuse two in one statement).
        assert recorder.written_total == 2
        assert recorder.last_flush_at is not None

    row = (await _stored(db_engine))[processing.id]
    assert row.stage_status == "completed"
    assert row.duration_ms == 877.5
    assert row.completed_at == datetime(2026, 3, 1, 9, 30, 1, tzinfo=UTC)
    assert row.entry_metadata == {"attempts": 2, "result": "message"}
    assert await _stored_ids(db_engine) == {processing.id, other.id}


async def test_every_field_reads_back_as_written(db_engine: AsyncEngine, make_record: RecordFactory) -> None:
    # SQLite batches are bound outside the ORM (SqliteBatchWriter); PostgreSQL's through it.
    # Both must store every field so that the ORM reads back exactly the record.
    full = replace(
        make_record(metadata={"attempts": 2, "title": 'l\'été "quoted" ✓', "nested": {"a": [1, 2.5, None]}}),
        stage_status=StageStatus.FAILED,
        started_at=datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC),
        completed_at=datetime(2026, 3, 1, 9, 30, 1, 654321, tzinfo=UTC),
        duration_ms=1.25,
        input_hash="sha256:" + "b" * 64,
        output_hash=None,
        error_info={"error_type": "ValueError", "message": "x'); DROP TABLE pipeline_lineage; --"},
        replay_batch_id=new_id(),
        batch_id=new_id(),
        delivery_count=3,
        storage_key="executions/e/r/s/m.json",
    )
    bare = make_record(parent_correlation_id=None, error_info=None, metadata={})
    many = [make_record() for _ in range(700)]  # more than one statement's worth in one batch
    async with LineageRecorder(db_engine, batch_size=1000) as recorder:
        for record in (full, bare, *many):
            recorder.record(record)
        assert await recorder.flush()
    entries = await _stored(db_engine)
    assert len(entries) == 702
    for record in (full, bare):
        assert entries[record.id].to_api_dict() == _api_dict(record)


async def test_text_ids_and_columns_null_in_a_whole_batch_read_back_as_written(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    # Ids that are not UUIDs keep their text beside a stand-in; a batch whose rows all lack an
    # optional column (every `*_text` column here, in the second batch) stores NULLs there.
    texts = [make_record(id=f"legacy-{index}", correlation_id=f"message-{index}") for index in range(3)]
    mixed = [*texts, make_record(input_hash="not-a-sha256-hash"), make_record()]
    plain = [make_record(parent_correlation_id=new_id(), input_hash="sha256:" + "c" * 64) for _ in range(5)]
    async with LineageRecorder(db_engine, batch_size=1000) as recorder:
        for record in mixed:
            recorder.record(record)
        assert await recorder.flush()
        for record in plain:
            recorder.record(record)
        assert await recorder.flush()
    entries = await _stored(db_engine)
    assert len(entries) == len(mixed) + len(plain)
    for record in (*mixed, *plain):
        assert entries[record.id].to_api_dict() == _api_dict(record)


async def test_upserts_are_idempotent(db_engine: AsyncEngine, make_record: RecordFactory) -> None:
    processing = make_record(metadata={"url": "https://example.org/a"})
    completed = replace(processing, stage_status=StageStatus.COMPLETED, duration_ms=12.0)
    async with LineageRecorder(db_engine) as recorder:
        recorder.record(processing)
        assert await recorder.flush()
        recorder.record(completed)
        assert await recorder.flush()
        recorder.record(completed)  # the same batch again (as after a retried commit) is harmless
        assert await recorder.flush()
        assert recorder.written_total == 3

    (row,) = (await _stored(db_engine)).values()
    assert (row.stage_status, row.duration_ms, row.entry_metadata) == (
        "completed",
        12.0,
        {"url": "https://example.org/a"},
    )


async def test_events_recorded_before_start_are_written_once_started(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    recorder = LineageRecorder(db_engine)
    record = make_record()
    recorder.record(record)
    await recorder.start()
    await recorder.start()  # idempotent
    try:
        assert await recorder.flush()
    finally:
        await recorder.shutdown()
    assert await _stored_ids(db_engine) == {record.id}


async def test_a_full_batch_is_written_without_waiting_for_the_interval(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    # An interval of an hour: only the batch size can trigger this write.
    async with LineageRecorder(db_engine, batch_size=5, flush_interval_ms=3_600_000) as recorder:
        records = [make_record() for _ in range(5)]
        for record in records:
            recorder.record(record)
        await wait_written(recorder, 5)
    assert await _stored_ids(db_engine) == {record.id for record in records}


async def test_a_lone_event_is_written_after_the_interval_without_a_flush(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    async with LineageRecorder(db_engine, batch_size=500, flush_interval_ms=10) as recorder:
        record = make_record()
        recorder.record(record)
        await wait_written(recorder, 1)
    assert await _stored_ids(db_engine) == {record.id}


async def test_flush_of_one_execution_waits_for_its_events(db_engine: AsyncEngine, make_record: RecordFactory) -> None:
    first, second = new_id(), new_id()
    mine = [make_record(execution_id=first) for _ in range(3)]
    async with LineageRecorder(db_engine, batch_size=2, flush_interval_ms=3_600_000) as recorder:
        assert await recorder.flush(first)  # nothing recorded: done at once
        for record in mine:
            recorder.record(record)
            recorder.record(make_record(execution_id=second))
        assert await recorder.flush(first, timeout=5)
        assert {record.id for record in mine} <= await _stored_ids(db_engine)
        assert recorder.dropped_for(first) == 0


async def test_a_url_gets_an_engine_of_its_own_with_two_connections(
    database_url: str, db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    record = make_record()
    async with LineageRecorder(database_url) as recorder:
        recorder.record(record)
        assert await recorder.flush()
        own = recorder._engine
        assert own is not None and own is not db_engine
        assert own.pool.size() == 2  # type: ignore[attr-defined]  # QueuePool
    assert recorder._engine is None  # disposed at shutdown
    assert await _stored_ids(db_engine) == {record.id}


async def test_a_given_engine_is_left_open(db_engine: AsyncEngine, make_record: RecordFactory) -> None:
    async with LineageRecorder(db_engine) as recorder:
        recorder.record(make_record())
    assert len(await _stored(db_engine)) == 1


# ---------------------------------------------------------------------- outages


async def test_outage_buffers_then_drops_and_writes_everything_kept_after_recovery(
    db_engine: AsyncEngine, database_url: str, make_record: RecordFactory, lineage_log: LogWatcher
) -> None:
    execution_id = new_id()
    async with LineageRecorder(database_url, buffer_size=20, batch_size=8, flush_interval_ms=5) as recorder:
        before = [make_record(execution_id=execution_id) for _ in range(3)]
        for record in before:
            recorder.record(record)
        assert await recorder.flush()

        during = [make_record(execution_id=execution_id) for _ in range(30)]
        async with table_away(db_engine):
            for record in during:
                recorder.record(record)  # returns at once, never raises
            assert recorder.buffered == 20
            assert recorder.dropped_total == 10
            assert recorder.dropped_for(execution_id) == 10
            assert recorder.dropped_for(new_id()) == 0
            await lineage_log.wait_for("lineage write failed")
            assert recorder.flush_failures_total >= 1
            assert recorder.buffered == 20  # the failed batch is kept
        assert await recorder.flush(timeout=5)
        assert recorder.buffered == 0
        assert recorder.dropped_total == 10

    stored = await _stored_ids(db_engine)
    assert stored == {record.id for record in before + during[:20]}
    warnings = lineage_log.messages(logging.WARNING)
    assert len([m for m in warnings if m.startswith("dropped")]) == 1  # at most one per 30 s
    assert any("recovered" in m for m in lineage_log.messages(logging.INFO))


async def test_a_flush_that_times_out_keeps_the_events_until_the_database_takes_them(
    db_engine: AsyncEngine, database_url: str, make_record: RecordFactory
) -> None:
    late, other = new_id(), new_id()
    records = [make_record(execution_id=late) for _ in range(3)] + [make_record(execution_id=other) for _ in range(2)]
    async with LineageRecorder(database_url, flush_interval_ms=5) as recorder:
        async with table_away(db_engine):
            for record in records:
                recorder.record(record)
            assert not await recorder.flush(late, timeout=0.05)
            assert recorder.dropped_total == 0
            assert recorder.buffered == 5
        assert await recorder.flush(timeout=5)
        assert recorder.dropped_total == 0
    assert await _stored_ids(db_engine) == {record.id for record in records}


async def test_shutdown_during_an_outage_gives_up_after_its_timeout(
    db_engine: AsyncEngine, database_url: str, make_record: RecordFactory
) -> None:
    execution_id = new_id()
    recorder = LineageRecorder(database_url, flush_interval_ms=5)
    await recorder.start()
    async with table_away(db_engine):
        for _ in range(4):
            recorder.record(make_record(execution_id=execution_id))
        await recorder.shutdown(timeout=0.05)
    assert recorder.dropped_for(execution_id) == 4
    assert recorder.buffered == 0
    await recorder.shutdown()  # idempotent
    assert await _stored_ids(db_engine) == set()


async def test_a_row_the_database_rejects_is_dropped_and_the_rest_written(
    db_engine: AsyncEngine, make_record: RecordFactory, lineage_log: LogWatcher
) -> None:
    execution_id = new_id()
    good = [make_record(execution_id=execution_id) for _ in range(2)]
    naive = make_record(execution_id=execution_id, started_at=datetime(2026, 3, 1, 9, 30))
    async with LineageRecorder(db_engine) as recorder:
        for record in (good[0], naive, good[1]):
            recorder.record(record)
        assert await recorder.flush(timeout=5)
        assert recorder.dropped_for(execution_id) == 1
    assert await _stored_ids(db_engine) == {record.id for record in good}
    assert any(naive.id in message for message in lineage_log.messages(logging.ERROR))


@pytest.mark.postgres
async def test_postgres_rejecting_a_too_long_value_drops_only_that_row(
    postgres_database_url: str, make_record: RecordFactory
) -> None:
    engine = create_database_engine(postgres_database_url)
    try:
        await run_migrations(engine)
        good = make_record()
        too_long = make_record(route_id="r" * 65)
        async with LineageRecorder(engine) as recorder:
            recorder.record(too_long)
            recorder.record(good)
            assert await recorder.flush(timeout=5)
            assert recorder.dropped_total == 1
        assert await _stored_ids(engine) == {good.id}
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_keeps_a_completed_row_that_another_process_later_closes(
    postgres_database_url: str, make_record: RecordFactory
) -> None:
    """A new leader's recovery closes rows it found unfinished while a live worker completed them."""
    engine = create_database_engine(postgres_database_url)
    try:
        await run_migrations(engine)
        processing = make_record()
        completed = replace(processing, stage_status=StageStatus.COMPLETED, duration_ms=12.0)
        closed = replace(processing, stage_status=StageStatus.CANCELLED, completed_at=datetime.now(UTC))
        async with LineageRecorder(engine) as worker, LineageRecorder(engine) as leader:
            worker.record(processing)
            assert await worker.flush(timeout=5)
            worker.record(completed)
            assert await worker.flush(timeout=5)
            leader.record(closed)
            assert await leader.flush(timeout=5)
        (row,) = (await _stored(engine)).values()
        assert (row.stage_status, row.duration_ms) == ("completed", 12.0)
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_connection_loss_and_recovery(
    postgres_database_url: str, make_record: RecordFactory, lineage_log: LogWatcher
) -> None:
    direct = create_database_engine(postgres_database_url)
    url = make_url(postgres_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        await run_migrations(direct)
        execution_id = new_id()
        via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        async with LineageRecorder(via_proxy, buffer_size=10, flush_interval_ms=5) as recorder:
            before = [make_record(execution_id=execution_id) for _ in range(2)]
            for record in before:
                recorder.record(record)
            assert await recorder.flush()

            proxy.cut()
            during = [make_record(execution_id=execution_id) for _ in range(15)]
            for record in during:
                recorder.record(record)
            assert (recorder.buffered, recorder.dropped_for(execution_id)) == (10, 5)
            await lineage_log.wait_for("lineage write failed")
            assert proxy.refused.is_set()

            proxy.accepting = True
            assert await recorder.flush(timeout=5)
        assert await _stored_ids(direct) == {record.id for record in before + during[:10]}
    finally:
        await proxy.close()
        await direct.dispose()


# ---------------------------------------------------------------------- lifecycle


async def test_shutdown_before_start_and_twice_is_safe(database_url: str, make_record: RecordFactory) -> None:
    recorder = LineageRecorder(database_url)
    await recorder.shutdown()
    await recorder.shutdown()
    recorder.record(make_record(execution_id="late"))
    assert recorder.dropped_for("late") == 1
    assert recorder.buffered == 0


async def test_flush_of_a_recorder_that_never_started_drops_at_once(
    database_url: str, make_record: RecordFactory
) -> None:
    recorder = LineageRecorder(database_url)
    recorder.record(make_record(execution_id="never"))
    assert not await recorder.flush("never", timeout=60)  # returns at once: no task will write
    assert recorder.dropped_for("never") == 1
    await recorder.shutdown()


async def test_shutdown_writes_what_is_buffered(db_engine: AsyncEngine, make_record: RecordFactory) -> None:
    recorder = LineageRecorder(db_engine, flush_interval_ms=3_600_000)
    await recorder.start()
    records = [make_record() for _ in range(3)]
    for record in records:
        recorder.record(record)
    await recorder.shutdown()
    assert await _stored_ids(db_engine) == {record.id for record in records}
    assert recorder.written_total == 3


def test_unsupported_database_and_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        LineageRecorder("mysql+aiomysql://localhost/db")
    with pytest.raises(ValueError, match="at least 1"):
        LineageRecorder("sqlite+aiosqlite:///x.db", buffer_size=0)
