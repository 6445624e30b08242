"""Sealed route counters stop moving; compaction deletes only sealed routes' message rows (SQLite, PostgreSQL)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_infra.database import create_session_factory
from factflow_lineage import LineageRecorder, LineageRepository, StageStatus
from factflow_protocols import LineageRecord

BASE_TIME = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
RecordFactory = Callable[..., LineageRecord]
EXEC_DONE = "0195e000-0000-7000-8000-0000000008a1"
EXEC_RUNNING = "0195e000-0000-7000-8000-0000000008b1"


async def _message_rows(engine: AsyncEngine) -> dict[str, int]:
    """Per execution: its rows in `pipeline_lineage_messages`."""
    query = sa.text(
        "SELECT r.execution_id, count(*) FROM pipeline_lineage_messages AS m"
        " JOIN pipeline_lineage_routes AS r ON r.route_key = m.route_key GROUP BY r.execution_id"
    )
    async with engine.connect() as connection:
        return {str(execution_id): int(count) for execution_id, count in (await connection.execute(query)).all()}


async def _sealed(engine: AsyncEngine) -> dict[tuple[str, str], bool]:
    query = sa.text("SELECT execution_id, route_id, sealed FROM pipeline_lineage_routes")
    async with engine.connect() as connection:
        return {(str(e), str(r)): bool(sealed) for e, r, sealed in (await connection.execute(query)).all()}


async def _write(engine: AsyncEngine, make_record: RecordFactory) -> dict[str, LineageRecord]:
    """Two executions' rows in two routes, several rows per message, every status; the latest state by row id."""
    rng = random.Random(31)
    messages = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(50)]
    latest: dict[str, LineageRecord] = {}
    async with LineageRecorder(engine, batch_size=17) as recorder:
        for number in range(300):
            record = make_record(
                execution_id=rng.choice((EXEC_DONE, EXEC_RUNNING)),
                route_id=rng.choice(("crawl", "embed")),
                adapter_index=rng.randrange(2),
                correlation_id=rng.choice(messages),
                stage_status=rng.choice(tuple(StageStatus)),
                duration_ms=rng.choice((None, 4.0)),
                started_at=BASE_TIME + timedelta(milliseconds=41 * number),
            )
            recorder.record(record)
            latest[record.id] = record
        assert await recorder.flush()
    return latest


async def test_sealed_counters_ignore_late_writes_and_deletes(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    latest = await _write(db_engine, make_record)
    repository = LineageRepository(create_session_factory(db_engine))
    before = await repository.route_counters(EXEC_DONE)
    assert before == await repository.route_message_counts(EXEC_DONE)

    sealed = await repository.seal_route_counters(EXEC_DONE)
    assert sealed == before
    assert await repository.seal_route_counters(EXEC_DONE) == before, "sealing again changes nothing"
    assert {key for key, flag in (await _sealed(db_engine)).items() if flag} == {
        (EXEC_DONE, "crawl"),
        (EXEC_DONE, "embed"),
    }
    messages_before = await _message_rows(db_engine)

    # Late writes of a worker: open rows finish or fail, a new message, a row of a route the
    # execution had no row in yet; and a delete of some of its rows.
    done_rows = sorted(row_id for row_id, row in latest.items() if row.execution_id == EXEC_DONE)
    async with LineageRecorder(db_engine, batch_size=17) as recorder:
        for row_id in done_rows[:40]:
            recorder.record(replace(latest[row_id], stage_status=StageStatus.FAILED, duration_ms=9.0))
        recorder.record(make_record(execution_id=EXEC_DONE, route_id="crawl", stage_status=StageStatus.PENDING))
        recorder.record(make_record(execution_id=EXEC_DONE, route_id="late", stage_status=StageStatus.PROCESSING))
        assert await recorder.flush()
    async with db_engine.begin() as connection:
        await connection.execute(
            sa.text(
                "DELETE FROM pipeline_lineage WHERE stage_key IN (SELECT stage_key FROM pipeline_lineage_stages"
                " WHERE execution_id = :execution_id AND route_id = 'embed')"
            ),
            {"execution_id": EXEC_DONE},
        )

    after = await repository.route_counters(EXEC_DONE)
    assert {route: replace(counts, avg_duration_ms=None) for route, counts in after.items()} == {
        route: replace(counts, avg_duration_ms=None) for route, counts in before.items()
    }, "a sealed route's message counts do not move"
    assert (await _sealed(db_engine))[(EXEC_DONE, "late")], "a route made after the seal is sealed"
    assert await _message_rows(db_engine) == messages_before, "no message row added or changed"
    assert await repository.route_counters(EXEC_RUNNING) == await repository.route_message_counts(EXEC_RUNNING)


async def test_compaction_deletes_only_sealed_routes_message_rows(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    latest = await _write(db_engine, make_record)
    repository = LineageRepository(create_session_factory(db_engine))
    running_messages = len(
        {(row.route_id, row.correlation_id) for row in latest.values() if row.execution_id == EXEC_RUNNING}
    )
    done_messages = len(
        {(row.route_id, row.correlation_id) for row in latest.values() if row.execution_id == EXEC_DONE}
    )
    assert await _message_rows(db_engine) == {EXEC_DONE: done_messages, EXEC_RUNNING: running_messages}

    assert await repository.compact_sealed_messages() == 0, "nothing sealed, nothing deleted"
    frozen = await repository.seal_route_counters(EXEC_DONE)
    assert await repository.compact_sealed_messages(batch_size=7, pause_seconds=0) == done_messages
    assert await _message_rows(db_engine) == {EXEC_RUNNING: running_messages}
    assert await repository.route_counters(EXEC_DONE) == frozen, "the sealed counters stay"

    # The running execution keeps moving, exactly; a late row of the sealed one re-creates nothing.
    async with LineageRecorder(db_engine, batch_size=17) as recorder:
        for row_id in sorted(row_id for row_id, row in latest.items() if row.execution_id == EXEC_RUNNING)[:60]:
            latest[row_id] = replace(latest[row_id], stage_status=StageStatus.CANCELLED)
            recorder.record(latest[row_id])
        for row_id in sorted(row_id for row_id, row in latest.items() if row.execution_id == EXEC_DONE)[:10]:
            recorder.record(replace(latest[row_id], stage_status=StageStatus.PROCESSING))
        assert await recorder.flush()
    assert await repository.route_counters(EXEC_RUNNING) == await repository.route_message_counts(EXEC_RUNNING)
    assert await _message_rows(db_engine) == {EXEC_RUNNING: running_messages}
    assert await repository.compact_sealed_messages() == 0

    # Deleting the sealed execution's lineage leaves the running one's counters alone.
    assert await repository.delete_execution_rows(EXEC_DONE, pause_seconds=0) > 0
    assert await repository.route_counters(EXEC_DONE) == {}
    assert await repository.route_counters(EXEC_RUNNING) == await repository.route_message_counts(EXEC_RUNNING)


async def _indexes_size(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(sa.text("SELECT pg_indexes_size('pipeline_lineage_messages')"))).scalar_one()
        )


async def test_compaction_gives_back_the_emptied_index_pages_only_when_no_route_counts(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    latest = await _write(db_engine, make_record)
    repository = LineageRepository(create_session_factory(db_engine))
    running = await repository.route_counters(EXEC_RUNNING)
    frozen = await repository.seal_route_counters(EXEC_DONE)
    if db_engine.dialect.name != "postgresql":
        await repository.compact_sealed_messages(pause_seconds=0, release_pages_over_bytes=0)
        assert not await repository.release_emptied_message_pages(over_bytes=0), "SQLite: nothing to give back"
        return
    grown = await _indexes_size(db_engine)

    # A route still counting keeps the table (and its rows) whole.
    await repository.compact_sealed_messages(pause_seconds=0, release_pages_over_bytes=0)
    assert await _indexes_size(db_engine) == grown
    assert (
        await repository.route_counters(EXEC_RUNNING) == running == await repository.route_message_counts(EXEC_RUNNING)
    )
    assert await _message_rows(db_engine) == {
        EXEC_RUNNING: len({(r.route_id, r.correlation_id) for r in latest.values() if r.execution_id == EXEC_RUNNING})
    }

    # Once nothing counts, the pages go back; the sealed counters stay.
    await repository.seal_route_counters(EXEC_RUNNING)
    await repository.compact_sealed_messages(pause_seconds=0, release_pages_over_bytes=0)
    assert await _message_rows(db_engine) == {}
    assert await _indexes_size(db_engine) < grown
    assert await repository.route_counters(EXEC_DONE) == frozen
    assert await repository.route_counters(EXEC_RUNNING) == running
