"""Keyset paging (`after=`) and batched deletion of `LineageRepository`, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_lineage import LineageRepository, LineageRow, PipelineLineageEntry
from factflow_lineage.testing import insert_entries

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
EXEC_A = "0195e000-0000-7000-8000-0000000000a1"
EXEC_B = "0195e000-0000-7000-8000-0000000000b1"
SORTS = ("started_at", "completed_at", "duration_ms", "route_id", "stage_name")


def _row(number: int, *, execution_id: str = EXEC_A, rng: random.Random) -> PipelineLineageEntry:
    # Few distinct values per column, so most pages end inside a run of ties; some NULLs.
    finished = rng.random() > 0.2
    return PipelineLineageEntry(
        id=f"0195c000-0000-7000-8000-{number:012d}",
        correlation_id=f"0195d000-0000-7000-8000-{number:012d}",
        execution_id=execution_id,
        route_id=rng.choice(("crawl", "embed", "index")),
        adapter_name="a",
        adapter_index=0,
        stage_name=rng.choice(("fetch", "split", "store")),
        stage_status="failed" if rng.random() < 0.5 else "completed",
        started_at=T0 + timedelta(seconds=rng.randrange(8)),
        completed_at=T0 + timedelta(seconds=10 + rng.randrange(5)) if finished else None,
        duration_ms=float(rng.randrange(4)) * 0.5 if finished else None,
    )


async def _insert(factory: async_sessionmaker[AsyncSession], rows: list[PipelineLineageEntry]) -> None:
    await insert_entries(factory.kw["bind"], rows)


@pytest.fixture
async def repo(db_session_factory: async_sessionmaker[AsyncSession]) -> LineageRepository:
    rng = random.Random(7)
    await _insert(db_session_factory, [_row(n, rng=rng) for n in range(1, 131)])
    return LineageRepository(db_session_factory)


async def _follow(fetch: Any, sort_by: str, limit: int) -> list[str]:
    seen: list[str] = []
    after: tuple[Any, str] | None = None
    while True:
        rows, _ = await fetch(limit=limit + 1, after=after)
        page = rows[:limit]
        seen.extend(row.id for row in page)
        if len(rows) <= limit:
            return seen
        after = (getattr(page[-1], sort_by), page[-1].id)


@pytest.mark.parametrize("sort_by", SORTS)
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
async def test_following_after_gives_the_offset_order(repo: LineageRepository, sort_by: Any, sort_order: Any) -> None:
    everything, total = await repo.list(sort_by=sort_by, sort_order=sort_order, limit=1000)
    assert total == 130

    async def fetch(*, limit: int, after: tuple[Any, str] | None) -> Any:
        return await repo.list(sort_by=sort_by, sort_order=sort_order, limit=limit, after=after)

    assert await _follow(fetch, sort_by, 7) == [row.id for row in everything]


async def test_failures_and_execution_rows_follow_after(repo: LineageRepository) -> None:
    failures, _ = await repo.failures(limit=1000)
    assert len(failures) > 20

    async def fetch_failures(*, limit: int, after: tuple[Any, str] | None) -> Any:
        return await repo.failures(limit=limit, after=after)

    assert await _follow(fetch_failures, "completed_at", 6) == [row.id for row in failures]
    rows, _ = await repo.execution_rows(EXEC_A, limit=1000)

    async def fetch_rows(*, limit: int, after: tuple[Any, str] | None) -> Any:
        return await repo.execution_rows(EXEC_A, limit=limit, after=after)

    assert await _follow(fetch_rows, "started_at", 9) == [row.id for row in rows]


async def test_rows_inserted_while_paging_never_repeat_or_hide_existing_ones(
    repo: LineageRepository, db_session_factory: async_sessionmaker[AsyncSession]
) -> None:
    existing = {row.id for row in (await repo.execution_rows(EXEC_A, limit=1000))[0]}
    rng = random.Random(11)
    done = asyncio.Event()

    async def writer() -> None:
        number = 1000
        while not done.is_set():
            # New rows land anywhere in the order: before, inside and after the pages read so far.
            await _insert(db_session_factory, [_row(number + k, rng=rng) for k in range(5)])
            number += 5
            await asyncio.sleep(0)

    task = asyncio.create_task(writer(), name="lineage-writer")
    try:
        for sort_by, sort_order in (("started_at", "asc"), ("completed_at", "desc"), ("route_id", "asc")):

            async def fetch(*, limit: int, after: tuple[Any, str] | None, s: Any = sort_by, o: Any = sort_order) -> Any:
                return await repo.list(execution_id=EXEC_A, sort_by=s, sort_order=o, limit=limit, after=after)

            seen = await _follow(fetch, sort_by, 8)
            assert len(seen) == len(set(seen)), f"{sort_by}: a row came twice"
            assert existing <= set(seen), f"{sort_by}: an existing row was skipped"
    finally:
        done.set()
        await task
    total = (await repo.execution_rows(EXEC_A, limit=1))[1]
    assert total > len(existing), "the writer inserted rows while the pages were read"


async def test_delete_execution_rows_in_batches(
    repo: LineageRepository, db_session_factory: async_sessionmaker[AsyncSession]
) -> None:
    rng = random.Random(3)
    await _insert(db_session_factory, [_row(n, execution_id=EXEC_B, rng=rng) for n in range(500, 523)])
    assert await repo.delete_execution_rows(EXEC_A, batch_size=40, pause_seconds=0) == 130
    assert await repo.delete_execution_rows(EXEC_A, batch_size=40, pause_seconds=0) == 0
    rows, total = await repo.list(limit=1000)
    assert {row.execution_id for row in rows} == {EXEC_B} and len(rows) == total == 23
    assert (await repo.stats(EXEC_A)).rows == ()  # the stage rows and their counters went too
    assert (await repo.stats(EXEC_B)).total == 23


async def test_deep_offset_pages_match_the_full_order(db_session_factory: async_sessionmaker[AsyncSession]) -> None:
    # Past offset 1,000 a page by `started_at` first finds its first `started_at` on the index;
    # runs of equal `started_at` across the page boundary must still page exactly as OFFSET does.
    rows = [
        PipelineLineageEntry(
            id=f"0195c000-0000-7000-8000-{number:012d}",
            correlation_id=f"0195d000-0000-7000-8000-{number:012d}",
            execution_id=EXEC_A if number % 5 else EXEC_B,
            route_id="crawl",
            adapter_name="a",
            adapter_index=0,
            stage_name="fetch" if number % 3 else "store",
            stage_status="completed",
            started_at=T0 + timedelta(seconds=number // 4),  # runs of four equal values
        )
        for number in range(1300)
    ]
    await _insert(db_session_factory, rows)
    repo = LineageRepository(db_session_factory)
    for filters in ({}, {"execution_id": EXEC_A}, {"execution_id": EXEC_A, "stage_name": "fetch"}):
        for order in ("asc", "desc"):
            everything, total = await repo.list(**filters, sort_order=order, limit=2000)  # type: ignore[arg-type]
            full = [row.id for row in everything]
            assert total == len(full)
            for offset in (999, 1000, 1001, 1002, 1003, len(full) - 2, len(full)):
                page, _ = await repo.list(**filters, sort_order=order, limit=7, offset=offset)  # type: ignore[arg-type]
                assert [row.id for row in page] == full[offset : offset + 7], (filters, order, offset)


async def test_deep_offset_pages_across_time_spans_after_moves_and_deletes(
    db_session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Deep pages start in the 10 s span the per-span counters point at: rows on either side of a
    # span's edge (1 µs apart), rows moved to another span or stage, and deleted rows must leave
    # pages exactly as OFFSET over the full order gives them. Status and row filters page the
    # rows themselves; the answer is the same.
    rng = random.Random(5)
    edges = (-1, 0, 1, 3_000_000, 9_999_999)

    def entry(
        number: int, *, started_at: datetime | None = None, stage_name: str | None = None
    ) -> PipelineLineageEntry:
        return PipelineLineageEntry(
            id=f"0195c000-0000-7000-8000-{number:012d}",
            correlation_id=f"0195d000-0000-7000-8000-{number:012d}",
            parent_correlation_id=None if number % 4 else f"0195d000-0000-7000-8000-{number + 1:012d}",
            execution_id=EXEC_A if number % 7 else EXEC_B,
            route_id="crawl",
            adapter_name="a",
            adapter_index=0,
            stage_name=stage_name or ("fetch" if number % 3 else "store"),
            stage_status="completed" if number % 5 else "failed",
            started_at=started_at
            or T0 + timedelta(seconds=10 * (number // 90), microseconds=edges[rng.randrange(len(edges))]),
        )

    rows = {number: entry(number) for number in range(2400)}
    await _insert(db_session_factory, list(rows.values()))
    repo = LineageRepository(db_session_factory)

    async def check() -> None:
        for filters in (
            {"execution_id": EXEC_A},
            {"execution_id": EXEC_A, "stage_name": "fetch"},
            {"execution_id": EXEC_A, "status": "completed"},
            {"execution_id": EXEC_A, "is_root": True},
        ):
            for order in ("asc", "desc"):
                everything, total = await repo.list(**filters, sort_order=order, limit=5000)
                full = [row.id for row in everything]
                assert total == len(full)
                for offset in (1000, 1001, 1089, 1090, 1091, 1500, len(full) - 1, len(full), len(full) + 3):
                    page, _ = await repo.list(**filters, sort_order=order, limit=11, offset=offset)
                    assert [row.id for row in page] == full[offset : offset + 11], (filters, order, offset)

    await check()
    # Rows move to another span (and to another stage), then some are deleted.
    moved = [
        entry(number, started_at=T0 + timedelta(seconds=rng.randrange(260), microseconds=rng.randrange(1_000_000)))
        for number in rng.sample(sorted(rows), 300)
    ]
    moved += [entry(number, stage_name="store") for number in rng.sample(sorted(rows), 50)]
    await _insert(db_session_factory, moved)
    gone = rng.sample(sorted(rows), 200)
    async with db_session_factory() as session, session.begin():
        await session.execute(sa.delete(LineageRow).where(LineageRow.id.in_([uuid.UUID(rows[n].id) for n in gone])))
    await check()
