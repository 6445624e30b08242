"""The per-stage counters equal the aggregates of the rows through inserts, transitions, replays and deletes."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_infra.database import create_session_factory
from factflow_lineage import AdapterStats, LineageRecorder, LineageRepository, LineageRow, StageStatus
from factflow_protocols import LineageRecord

EXEC_A = "0195e000-0000-7000-8000-0000000000a1"
EXEC_B = "0195e000-0000-7000-8000-0000000000b1"
BASE_TIME = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
RecordFactory = Callable[..., LineageRecord]
FINAL = (StageStatus.COMPLETED, StageStatus.FAILED, StageStatus.SKIPPED, StageStatus.CANCELLED)


def _aggregates(rows: list[LineageRecord]) -> dict[tuple[str, int], tuple[int, ...]]:
    """What the stats must say, computed from the rows' final states."""
    counts: dict[tuple[str, int], list[int]] = {}
    for row in rows:
        key = (row.route_id, row.adapter_index)
        entry = counts.setdefault(key, [0] * (1 + len(StageStatus)))
        entry[0] += 1
        entry[1 + list(StageStatus).index(row.stage_status)] += 1
    return {key: tuple(values) for key, values in counts.items()}


def _observed(rows: tuple[AdapterStats, ...]) -> dict[tuple[str, int], tuple[int, ...]]:
    return {
        (row.route_id, row.adapter_index): (
            row.count,
            row.pending,
            row.processing,
            row.completed,
            row.failed,
            row.skipped,
            row.cancelled,
        )
        for row in rows
    }


def _bucket_aggregates(rows: list[LineageRecord]) -> dict[tuple[str, str, int, int], int]:
    """Rows per stage and 10 s span of `started_at`, as `pipeline_lineage_buckets` must hold them."""
    counts: dict[tuple[str, str, int, int], int] = {}
    for row in rows:
        key = (row.execution_id, row.route_id, row.adapter_index, int(row.started_at.timestamp()) // 10)
        counts[key] = counts.get(key, 0) + 1
    return counts


async def _buckets(engine: AsyncEngine) -> dict[tuple[str, str, int, int], int]:
    query = sa.text(
        "SELECT s.execution_id, s.route_id, s.adapter_index, b.bucket, b.row_count FROM pipeline_lineage_buckets AS b"
        " JOIN pipeline_lineage_stages AS s ON s.stage_key = b.stage_key"
    )
    async with engine.connect() as connection:
        found = (await connection.execute(query)).all()
    return {(execution, route, index, int(bucket)): int(count) for execution, route, index, bucket, count in found}


async def _message_rows(engine: AsyncEngine) -> set[str]:
    """Executions with rows in the per-route and per-message counters."""
    query = sa.text(
        "SELECT DISTINCT r.execution_id FROM pipeline_lineage_routes AS r"
        " JOIN pipeline_lineage_messages AS m ON m.route_key = r.route_key"
    )
    async with engine.connect() as connection:
        return {str(execution_id) for execution_id in (await connection.scalars(query)).all()}


async def test_counters_follow_every_write(db_engine: AsyncEngine, make_record: RecordFactory) -> None:
    rng = random.Random(11)
    latest: dict[str, LineageRecord] = {}
    async with LineageRecorder(db_engine, batch_size=37) as recorder:
        for number in range(400):
            record = make_record(
                execution_id=rng.choice((EXEC_A, EXEC_B)),
                route_id=rng.choice(("crawl", "embed")),
                adapter_index=rng.randrange(2),
                started_at=BASE_TIME + timedelta(milliseconds=97 * number),  # over four 10 s spans
            )
            recorder.record(record)
            latest[record.id] = record
            if number % 50 == 0:
                assert await recorder.flush()  # rows split over many batches and transactions
        assert await recorder.flush()
        # Transitions (some rows twice, some to pending and back), and a replayed batch.
        for row_id in rng.sample(sorted(latest), 300):
            status = rng.choice((*FINAL, StageStatus.PENDING))
            duration = rng.choice((None, 1.5, 20.25)) if status is StageStatus.COMPLETED else None
            started_at = latest[row_id].started_at
            if rng.random() < 0.2:
                started_at = BASE_TIME + timedelta(milliseconds=rng.randrange(45_000))  # to another span
            latest[row_id] = replace(latest[row_id], stage_status=status, duration_ms=duration, started_at=started_at)
            recorder.record(latest[row_id])
        assert await recorder.flush()
        for record in rng.sample(sorted(latest.values(), key=lambda r: r.id), 100):
            recorder.record(record)  # the same state again, as after a retried commit
        assert await recorder.flush()

    sessions = create_session_factory(db_engine)
    repository = LineageRepository(sessions)
    # A delete of single rows by any writer (not only whole executions) is counted too.
    gone = rng.sample(sorted(row_id for row_id, row in latest.items() if row.execution_id == EXEC_A), 25)
    async with sessions() as session, session.begin():
        await session.execute(sa.delete(LineageRow).where(LineageRow.id.in_([uuid.UUID(row_id) for row_id in gone])))
    for row_id in gone:
        del latest[row_id]

    for execution_id in (EXEC_A, EXEC_B):
        rows = [row for row in latest.values() if row.execution_id == execution_id]
        stats = await repository.stats(execution_id)
        assert _observed(stats.rows) == _aggregates(rows)
        assert stats.total == len(rows)
        counts = await repository.stage_counts(execution_id)
        assert counts.total == len(rows)
        durations = [
            row.duration_ms for row in rows if row.stage_status is StageStatus.COMPLETED and row.duration_ms is not None
        ]
        if durations:
            assert counts.avg_duration_ms == pytest.approx(sum(durations) / len(durations))
        else:
            assert counts.avg_duration_ms is None
        page, total = await repository.list(execution_id=execution_id, status="completed", limit=1)
        assert total == sum(1 for row in rows if row.stage_status is StageStatus.COMPLETED)
        assert len(page) == 1

    assert await _buckets(db_engine) == _bucket_aggregates(list(latest.values()))
    for execution_id in (EXEC_A, EXEC_B):
        assert await repository.route_counters(execution_id) == await repository.route_message_counts(execution_id)
    assert await repository.delete_execution_rows(EXEC_A, batch_size=40, pause_seconds=0) == len(
        [row for row in latest.values() if row.execution_id == EXEC_A]
    )
    assert (await repository.stats(EXEC_A)).rows == ()
    assert await repository.route_counters(EXEC_A) == {}
    assert await _message_rows(db_engine) == {EXEC_B}
    left = [row for row in latest.values() if row.execution_id == EXEC_B]
    assert await _buckets(db_engine) == _bucket_aggregates(left)
    assert _observed((await repository.stats(EXEC_B)).rows) == _aggregates(
        [row for row in latest.values() if row.execution_id == EXEC_B]
    )


async def test_rows_of_a_stage_deleted_meanwhile_get_a_new_stage_row(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    # The recorder remembers stage keys; deleting an execution's lineage deletes its stage rows.
    # A row written later with the remembered key is refused, and written again with a new one.
    repository = LineageRepository(create_session_factory(db_engine))
    async with LineageRecorder(db_engine) as recorder:
        recorder.record(make_record(execution_id=EXEC_A))
        assert await recorder.flush()
        assert await repository.delete_execution_rows(EXEC_A, pause_seconds=0) == 1
        late = make_record(execution_id=EXEC_A)
        recorder.record(late)
        assert await recorder.flush(timeout=10.0)
        assert recorder.flush_failures_total == 1 and recorder.dropped_total == 0
    rows, total = await repository.list(execution_id=EXEC_A)
    assert [row.id for row in rows] == [late.id] and total == 1
    assert (await repository.stats(EXEC_A)).total == 1


def _route_aggregates(rows: list[LineageRecord]) -> dict[str, tuple[int, int, int, int, int, float | None]]:
    """`RouteStatus` counts from the rows as the HTTP API defines them (worst status of each message)."""
    seen: dict[str, dict[str, set[StageStatus]]] = {}
    spent: dict[str, list[float]] = {}
    for row in rows:
        seen.setdefault(row.route_id, {}).setdefault(row.correlation_id, set()).add(row.stage_status)
        if row.stage_status is StageStatus.COMPLETED and row.duration_ms is not None:
            spent.setdefault(row.route_id, []).append(row.duration_ms)
    counts: dict[str, tuple[int, int, int, int, int, float | None]] = {}
    for route_id, messages in seen.items():
        failed = sum(1 for statuses in messages.values() if StageStatus.FAILED in statuses)
        active = sum(
            1
            for statuses in messages.values()
            if StageStatus.FAILED not in statuses and statuses & {StageStatus.PENDING, StageStatus.PROCESSING}
        )
        cancelled = sum(
            1
            for statuses in messages.values()
            if StageStatus.CANCELLED in statuses
            and not statuses & {StageStatus.FAILED, StageStatus.PENDING, StageStatus.PROCESSING}
        )
        durations = spent.get(route_id, [])
        average = sum(durations) / len(durations) if durations else None
        total = len(messages)
        counts[route_id] = (total, total - failed - active - cancelled, failed, active, cancelled, average)
    return counts


async def test_route_counts_of_a_running_execution_equal_its_rows(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    # Messages with rows in several adapters of a route, redelivered (a second row in a stage),
    # rows still open, and another execution's rows interleaved in time.
    rng = random.Random(23)
    messages = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(60)]
    latest: dict[str, LineageRecord] = {}
    repository = LineageRepository(create_session_factory(db_engine))
    async with LineageRecorder(db_engine, batch_size=29) as recorder:
        for number in range(500):
            record = make_record(
                execution_id=rng.choice((EXEC_A, EXEC_A, EXEC_B)),
                route_id=rng.choice(("crawl", "embed")),
                adapter_index=rng.randrange(2),
                correlation_id=rng.choice(messages),
                stage_status=rng.choice(tuple(StageStatus)),
                duration_ms=rng.choice((None, 2.5, 40.0)),
                started_at=BASE_TIME + timedelta(milliseconds=37 * number),
            )
            recorder.record(record)
            latest[record.id] = record
        assert await recorder.flush()
        for execution_id in (EXEC_A, EXEC_B):
            counts = await repository.route_message_counts(execution_id)
            expected = _route_aggregates([row for row in latest.values() if row.execution_id == execution_id])
            assert counts.keys() == expected.keys()
            assert await repository.route_counters(execution_id) == counts
            for route_id, (total, completed, failed, active, cancelled, average) in expected.items():
                found = counts[route_id]
                shown = (found.total_messages, found.completed, found.failed, found.in_progress, found.cancelled)
                assert shown == (total, completed, failed, active, cancelled), (execution_id, route_id)
                assert found.avg_duration_ms == (None if average is None else pytest.approx(average))
            # The rows move on (open ones finish, some fail), as while the execution runs; a
            # completed row stays completed (the PostgreSQL writer never undoes it).
            unfinished = sorted(
                row_id for row_id, row in latest.items() if row.stage_status is not StageStatus.COMPLETED
            )
            for row_id in rng.sample(unfinished, 120):
                status = rng.choice(FINAL)
                latest[row_id] = replace(latest[row_id], stage_status=status, duration_ms=rng.choice((None, 7.0)))
                recorder.record(latest[row_id])
            assert await recorder.flush()


async def test_route_counters_stay_exact_with_concurrent_writers(
    db_engine: AsyncEngine, make_record: RecordFactory
) -> None:
    # Worker processes write one execution's rows at once, each with its own recorder; some rows
    # of one message come from different writers (a redelivery taken over by another worker).
    rng = random.Random(5)
    messages = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(80)]
    repository = LineageRepository(create_session_factory(db_engine))

    async def writer(seed: int) -> list[LineageRecord]:
        mine = random.Random(seed)
        latest: dict[str, LineageRecord] = {}
        async with LineageRecorder(db_engine, batch_size=23, flush_interval_ms=5) as recorder:
            for number in range(150):
                record = make_record(
                    execution_id=EXEC_A,
                    route_id=mine.choice(("crawl", "embed")),
                    adapter_index=mine.randrange(2),
                    correlation_id=mine.choice(messages),
                    stage_status=StageStatus.PROCESSING,
                    started_at=BASE_TIME + timedelta(milliseconds=number),
                )
                recorder.record(record)
                latest[record.id] = record
                if mine.random() < 0.6:
                    done = replace(record, stage_status=mine.choice((*FINAL, StageStatus.PENDING)), duration_ms=1.0)
                    recorder.record(done)
                    latest[record.id] = done
                if number % 30 == 0:
                    await asyncio.sleep(0)
            assert await recorder.flush(timeout=30.0)
            assert recorder.dropped_total == 0
        return list(latest.values())

    written = await asyncio.gather(*(writer(seed) for seed in range(4)))
    rows = [row for rows in written for row in rows]
    counts = await repository.route_message_counts(EXEC_A)
    assert await repository.route_counters(EXEC_A) == counts
    expected = _route_aggregates(rows)
    assert {
        route: (found.total_messages, found.failed, found.in_progress, found.cancelled)
        for route, found in counts.items()
    } == {
        route: (total, failed, active, cancelled)
        for route, (total, _, failed, active, cancelled, _) in expected.items()
    }
