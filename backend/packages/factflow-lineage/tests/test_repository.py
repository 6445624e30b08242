from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factflow_foundation import ServiceUnavailableError
from factflow_infra.database import create_database_engine, create_session_factory, run_migrations
from factflow_lineage import LineageRecorder, LineageRepository, PipelineLineageEntry
from factflow_lineage.testing import insert_entries
from factflow_protocols import AdapterResult, LineageService, NonRetryableError, StageInvocation, StageStatus

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

EXEC_A = "0195e000-0000-7000-8000-00000000000a"  # the original run
EXEC_B = "0195e000-0000-7000-8000-00000000000b"  # a replay of it
EXEC_C = "0195e000-0000-7000-8000-00000000000c"

R, C1, C2, G, P, Q, X = (f"0195d000-0000-7000-8000-00000000000{n}" for n in range(1, 8))
BATCH_REPLAY = "0195f000-0000-7000-8000-0000000000b1"
BATCH_ADAPTER = "0195f000-0000-7000-8000-0000000000b2"
BATCH_MIXED = "0195f000-0000-7000-8000-0000000000b3"
NOWHERE = "0195f000-0000-7000-8000-0000000000ff"


def row_id(number: int) -> str:
    return f"0195c000-0000-7000-8000-{number:012d}"


ERROR = {"error_type": "ValueError", "message": "bad vector", "traceback": "", "attempts": 3, "retryable": True}

# number, message, parent, execution, route, index, adapter, status, started s, completed s, duration ms, extras
#
#   exec A:  R ─┬─ C1 ─────── P (exec B, replayed) ── Q (exec B)
#               └─ C2 ── G
#   exec C:  X
ROWS: list[tuple[Any, ...]] = [
    (1, R, None, EXEC_A, "crawl", 0, "fetch", "completed", 0, 1, 1000.0,
     {"metadata": {"url": "https://Example.org/Docs/Intro", "title": "Intro to 100% Lineage", "origin": "sitemap",
                   "document_id": "doc-1"}}),
    (2, R, None, EXEC_A, "crawl", 1, "split", "completed", 1, 2, 500.0, {"metadata": {"result": "emitted"}}),
    (3, C1, R, EXEC_A, "embed", 0, "chunk", "completed", 3, 3.2, 200.0,
     {"metadata": {"url": "https://other.net/page_1", "title": "Other"}}),
    (4, C1, R, EXEC_A, "embed", 1, "embed", "failed", 4, 5, 300.0, {"error_info": ERROR, "batch_id": BATCH_ADAPTER}),
    (5, C2, R, EXEC_A, "embed", 0, "chunk", "completed", 3.5, 3.6, 100.0,
     {"batch_id": BATCH_ADAPTER, "metadata": {"document_id": "doc-2", "origin": "Upload"}}),
    (6, C2, R, EXEC_A, "embed", 1, "embed", "processing", 6, None, None, {}),
    (7, G, C2, EXEC_A, "index", 0, "store", "skipped", 7, 7, 0.0, {}),
    (8, P, C1, EXEC_B, "embed", 1, "embed", "completed", 100, 100.25, 250.0, {"replay_batch_id": BATCH_REPLAY}),
    (9, P, C1, EXEC_B, "index", 0, "store", "pending", 101, None, None, {"replay_batch_id": BATCH_REPLAY}),
    (10, Q, P, EXEC_B, "index", 0, "store", "cancelled", 102, 103, 1000.0,
     {"replay_batch_id": BATCH_REPLAY, "batch_id": BATCH_MIXED}),
    (11, X, None, EXEC_C, "crawl", 0, "fetch", "failed", 200, 201, 50.0,
     {"replay_batch_id": BATCH_MIXED, "error_info": ERROR}),
]  # fmt: skip


def _at(seconds: float | None) -> datetime | None:
    return None if seconds is None else T0 + timedelta(seconds=seconds)


def _entry(spec: tuple[Any, ...]) -> PipelineLineageEntry:
    number, message, parent, execution, route, index, adapter, status, start, end, duration, extras = spec
    extras = dict(extras)
    return PipelineLineageEntry(
        id=row_id(number),
        correlation_id=message,
        parent_correlation_id=parent,
        execution_id=execution,
        route_id=route,
        adapter_name=adapter,
        adapter_index=index,
        stage_name=adapter,
        stage_status=status,
        started_at=T0 + timedelta(seconds=start),
        completed_at=_at(end),
        duration_ms=duration,
        entry_metadata=extras.pop("metadata", {}),
        **extras,
    )


@pytest.fixture
async def repo(db_session_factory: async_sessionmaker[AsyncSession]) -> LineageRepository:
    await insert_entries(db_session_factory.kw["bind"], [_entry(spec) for spec in ROWS])
    return LineageRepository(db_session_factory)


def numbers(rows: list[PipelineLineageEntry] | tuple[PipelineLineageEntry, ...]) -> list[int]:
    return [int(row.id.rsplit("-", 1)[1]) for row in rows]


# ---------------------------------------------------------------------- list


# One database per test is the slow part, so the cases of a query share one test.
FILTER_CASES: list[tuple[dict[str, Any], list[int]]] = [
    ({}, [1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11]),
    ({"execution_id": EXEC_A}, [1, 2, 3, 5, 4, 6, 7]),
    ({"route_id": "embed"}, [3, 5, 4, 6, 8]),
    ({"adapter_name": "embed"}, [4, 6, 8]),
    ({"stage_name": "store"}, [7, 9, 10]),
    ({"status": StageStatus.FAILED}, [4, 11]),
    ({"status": "completed", "execution_id": EXEC_A}, [1, 2, 3, 5]),
    ({"correlation_id": C1}, [3, 4]),
    ({"parent_correlation_id": R}, [3, 5, 4, 6]),
    ({"is_root": True}, [1, 2, 11]),
    ({"is_root": False}, [3, 5, 4, 6, 7, 8, 9, 10]),
    ({"replay_batch_id": BATCH_REPLAY}, [8, 9, 10]),
    ({"batch_id": BATCH_ADAPTER}, [5, 4]),
    ({"url": "example.ORG/docs"}, [1]),
    ({"url": "page_1"}, [3]),
    ({"url": "page%1"}, []),  # LIKE wildcards in the value are literal
    ({"title": "100% lin"}, [1]),
    ({"title": "t_"}, []),
    ({"origin": "upload"}, [5]),
    ({"origin": "SITE"}, [1]),
    ({"document_id": "doc-1"}, [1]),
    ({"document_id": "doc"}, []),  # exact, not a substring
    ({"started_after": T0 + timedelta(seconds=100)}, [8, 9, 10, 11]),  # inclusive
    ({"started_before": T0 + timedelta(seconds=3)}, [1, 2]),  # exclusive
    (
        {
            "started_after": T0 + timedelta(seconds=3),
            "started_before": T0 + timedelta(seconds=7),
            "route_id": "embed",
        },
        [3, 5, 4, 6],
    ),
]
SORT_CASES: list[tuple[Any, Any, list[int]]] = [
    ("started_at", "desc", [11, 10, 9, 8, 7, 6, 4, 5, 3, 2, 1]),
    ("duration_ms", "desc", [10, 1, 2, 4, 8, 3, 5, 11, 7, 9, 6]),  # ties by id, no value last
    ("duration_ms", "asc", [7, 11, 5, 3, 8, 4, 2, 1, 10, 6, 9]),
    ("completed_at", "asc", [1, 2, 3, 5, 4, 7, 8, 10, 11, 6, 9]),
    ("completed_at", "desc", [11, 10, 8, 7, 4, 5, 3, 2, 1, 9, 6]),
    ("route_id", "asc", [1, 2, 11, 3, 4, 5, 6, 8, 7, 9, 10]),
    ("stage_name", "desc", [10, 9, 7, 2, 11, 1, 8, 6, 4, 5, 3]),
]


async def test_list_filters(repo: LineageRepository) -> None:
    for filters, expected in FILTER_CASES:
        rows, total = await repo.list(**filters)
        assert (numbers(rows), total) == (expected, len(expected)), filters


async def test_list_sorting(repo: LineageRepository) -> None:
    for sort_by, sort_order, expected in SORT_CASES:
        rows, total = await repo.list(sort_by=sort_by, sort_order=sort_order)
        assert (numbers(rows), total) == (expected, 11), (sort_by, sort_order)


async def test_list_pages(repo: LineageRepository) -> None:
    rows, total = await repo.list(limit=3, offset=9)
    assert (numbers(rows), total) == ([10, 11], 11)
    rows, total = await repo.list(execution_id=EXEC_A, limit=2, offset=2)
    assert (numbers(rows), total) == ([3, 5], 7)
    rows, total = await repo.list(limit=5, offset=50)
    assert (rows, total) == ([], 11)


# ---------------------------------------------------------------------- single rows and messages


async def test_get_returns_every_row_of_a_message_across_routes(repo: LineageRepository) -> None:
    assert numbers(await repo.get(P)) == [9, 8]  # by adapter_index, then started_at
    assert numbers(await repo.get(C1)) == [3, 4]
    assert await repo.get(NOWHERE) == []


async def test_get_entry(repo: LineageRepository) -> None:
    entry = await repo.get_entry(row_id(4))
    assert entry is not None
    assert entry.to_api_dict()["error_info"] == ERROR
    assert entry.to_api_dict()["started_at"] == "2026-03-01T09:00:04.000000Z"
    assert await repo.get_entry(NOWHERE) is None


async def test_resolve_takes_a_row_id_or_a_correlation_id(repo: LineageRepository) -> None:
    assert await repo.resolve(row_id(8)) == P
    assert await repo.resolve(Q) == Q
    assert await repo.resolve(NOWHERE) is None


async def test_message_status_rules(repo: LineageRepository) -> None:
    root = await repo.message(R)
    assert root is not None
    assert (root.status, root.execution_id, root.parent_correlation_id, root.depth) == ("completed", EXEC_A, None, 0)
    assert (root.started_at, root.completed_at) == (_at(0), _at(2))
    assert numbers(root.entries) == [1, 2]

    failed = await repo.message(C1)  # a completed and a failed row: failed wins
    assert failed is not None and (failed.status, failed.completed_at) == ("failed", _at(5))
    processing = await repo.message(C2)
    assert processing is not None and (processing.status, processing.completed_at) == ("processing", None)
    pending = await repo.message(P)
    assert pending is not None and pending.status == "processing"
    cancelled = await repo.message(Q, depth=3)
    assert cancelled is not None and (cancelled.status, cancelled.depth) == ("cancelled", 3)
    skipped_only = await repo.message(G)
    assert skipped_only is not None and skipped_only.status == "completed"
    assert await repo.message(NOWHERE) is None

    api = root.to_api_dict()
    assert set(api) == {
        "correlation_id",
        "parent_correlation_id",
        "execution_id",
        "status",
        "started_at",
        "completed_at",
        "depth",
        "entries",
    }
    assert api["started_at"] == "2026-03-01T09:00:00.000000Z"
    assert [entry["id"] for entry in api["entries"]] == [row_id(1), row_id(2)]


async def test_rows_for_message_in_one_route(repo: LineageRepository) -> None:
    assert numbers(await repo.rows_for_message(P, "index")) == [9]
    assert numbers(await repo.rows_for_message(C1, "embed")) == [3, 4]
    assert await repo.rows_for_message(C1, "crawl") == []


async def test_execution_rows_by_start(repo: LineageRepository) -> None:
    rows, total = await repo.execution_rows(EXEC_A, limit=3)
    assert (numbers(rows), total) == ([1, 2, 3], 7)
    rows, total = await repo.execution_rows(EXEC_A, limit=3, offset=6)
    assert (numbers(rows), total) == ([7], 7)
    assert await repo.execution_rows(NOWHERE) == ([], 0)


# ---------------------------------------------------------------------- chains and children


async def test_chain_crosses_executions_up_to_the_root(repo: LineageRepository) -> None:
    chain = await repo.chain(P)
    assert chain is not None
    assert chain.correlation_id == P and chain.root_correlation_id == R
    assert [(m.correlation_id, m.depth, m.execution_id) for m in chain.ancestors] == [(R, -2, EXEC_A), (C1, -1, EXEC_A)]
    assert (chain.message.correlation_id, chain.message.depth, chain.message.execution_id) == (P, 0, EXEC_B)
    assert [(m.correlation_id, m.depth) for m in chain.descendants] == [(Q, 1)]
    assert chain.truncated is False
    api = chain.to_api_dict()
    assert api["root_correlation_id"] == R and [m["correlation_id"] for m in api["ancestors"]] == [R, C1]


async def test_chain_descendants_are_breadth_first(repo: LineageRepository) -> None:
    chain = await repo.chain(R)
    assert chain is not None
    assert chain.ancestors == () and chain.root_correlation_id == R
    assert [(m.correlation_id, m.depth) for m in chain.descendants] == [(C1, 1), (C2, 1), (G, 2), (P, 2), (Q, 3)]
    assert chain.truncated is False


async def test_chain_limits(repo: LineageRepository) -> None:
    shallow = await repo.chain(R, max_depth=1)
    assert shallow is not None
    assert [m.correlation_id for m in shallow.descendants] == [C1, C2] and shallow.truncated

    upward = await repo.chain(Q, max_depth=1)
    assert upward is not None
    assert [m.correlation_id for m in upward.ancestors] == [P] and upward.root_correlation_id == P
    assert upward.truncated

    few = await repo.chain(R, max_messages=2)
    assert few is not None
    assert [m.correlation_id for m in few.descendants] == [C1] and few.truncated

    exact = await repo.chain(Q, max_messages=4)  # Q and its three ancestors fit exactly
    assert exact is not None
    assert [m.correlation_id for m in exact.ancestors] == [R, C1, P] and not exact.truncated

    assert await repo.chain(NOWHERE) is None


async def test_children_are_direct_and_paged(repo: LineageRepository) -> None:
    children, total = await repo.children(R)
    assert [(m.correlation_id, m.depth, m.status) for m in children] == [(C1, 1, "failed"), (C2, 1, "processing")]
    assert total == 2
    children, total = await repo.children(R, limit=1, offset=1)
    assert ([m.correlation_id for m in children], total) == ([C2], 2)
    children, total = await repo.children(C1)  # the replayed child lives in another execution
    assert ([(m.correlation_id, m.execution_id) for m in children], total) == ([(P, EXEC_B)], 1)
    assert await repo.children(Q) == ([], 0)


# ---------------------------------------------------------------------- failures, batches, aggregates


async def test_failures_newest_completion_first(repo: LineageRepository) -> None:
    rows, total = await repo.failures()
    assert (numbers(rows), total) == ([11, 4], 2)
    assert numbers((await repo.failures(execution_id=EXEC_A))[0]) == [4]
    assert numbers((await repo.failures(route_id="embed"))[0]) == [4]
    assert numbers((await repo.failures(adapter_name="fetch"))[0]) == [11]
    assert numbers((await repo.failures(started_after=T0 + timedelta(seconds=100)))[0]) == [11]
    rows, total = await repo.failures(limit=1, offset=1)
    assert (numbers(rows), total) == ([4], 2)


async def test_batch_kinds(repo: LineageRepository) -> None:
    replay = await repo.batch(BATCH_REPLAY)
    assert replay is not None
    assert (replay.kind, replay.total, numbers(replay.entries)) == ("replay", 3, [8, 9, 10])
    adapter = await repo.batch(BATCH_ADAPTER)
    assert adapter is not None
    assert (adapter.kind, adapter.total, numbers(adapter.entries)) == ("adapter", 2, [5, 4])
    mixed = await repo.batch(BATCH_MIXED)
    assert mixed is not None
    assert (mixed.kind, mixed.total, numbers(mixed.entries)) == ("mixed", 2, [10, 11])
    page = await repo.batch(BATCH_REPLAY, limit=1, offset=1)
    assert page is not None and (numbers(page.entries), page.total) == ([9], 3)
    assert await repo.batch(NOWHERE) is None


async def test_stats_per_route_and_adapter(repo: LineageRepository) -> None:
    stats = await repo.stats(EXEC_A)
    assert (stats.execution_id, stats.total) == (EXEC_A, 7)
    summary = [
        (s.route_id, s.adapter_index, s.adapter_name, s.stage_name, s.count, s.completed, s.failed, s.processing,
         s.skipped, s.pending, s.cancelled, s.avg_duration_ms, s.max_duration_ms)
        for s in stats.rows
    ]  # fmt: skip
    assert summary == [
        ("crawl", 0, "fetch", "fetch", 1, 1, 0, 0, 0, 0, 0, 1000.0, 1000.0),
        ("crawl", 1, "split", "split", 1, 1, 0, 0, 0, 0, 0, 500.0, 500.0),
        ("embed", 0, "chunk", "chunk", 2, 2, 0, 0, 0, 0, 0, 150.0, 200.0),
        ("embed", 1, "embed", "embed", 2, 0, 1, 1, 0, 0, 0, None, None),
        ("index", 0, "store", "store", 1, 0, 0, 0, 1, 0, 0, None, None),
    ]
    assert stats.to_api_dict()["rows"][2] == {
        "route_id": "embed",
        "adapter_name": "chunk",
        "adapter_index": 0,
        "stage_name": "chunk",
        "count": 2,
        "pending": 0,
        "processing": 0,
        "completed": 2,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
        "avg_duration_ms": 150.0,
        "max_duration_ms": 200.0,
    }

    declared = await repo.stats(EXEC_A, route_order=("index", "embed"))
    assert [(s.route_id, s.adapter_index) for s in declared.rows] == [
        ("index", 0),
        ("embed", 0),
        ("embed", 1),
        ("crawl", 0),
        ("crawl", 1),
    ]

    replay = await repo.stats(EXEC_B)
    assert [(s.route_id, s.count, s.completed, s.pending, s.cancelled) for s in replay.rows] == [
        ("embed", 1, 1, 0, 0),
        ("index", 2, 0, 1, 1),
    ]
    empty = await repo.stats(NOWHERE)
    assert (empty.total, empty.rows) == (0, ())


async def test_stage_counts(repo: LineageRepository) -> None:
    counts = await repo.stage_counts(EXEC_A)
    assert counts.to_api_dict() == {
        "total": 7,
        "pending": 0,
        "processing": 1,
        "completed": 4,
        "failed": 1,
        "skipped": 1,
        "cancelled": 0,
    }
    assert counts.avg_duration_ms == pytest.approx(450.0)
    empty = await repo.stage_counts(NOWHERE)
    assert (empty.total, empty.avg_duration_ms) == (0, None)


async def test_route_message_counts_classify_each_message_once(repo: LineageRepository) -> None:
    original = await repo.route_message_counts(EXEC_A)
    assert {route: (c.total_messages, c.completed, c.failed, c.in_progress, c.cancelled) for route, c in
            original.items()} == {
        "crawl": (1, 1, 0, 0, 0),
        "embed": (2, 0, 1, 1, 0),  # C1 failed (despite a completed row), C2 in progress
        "index": (1, 1, 0, 0, 0),  # only skipped rows: completed
    }  # fmt: skip
    assert original["crawl"].avg_duration_ms == pytest.approx(750.0)
    assert original["embed"].avg_duration_ms == pytest.approx(150.0)
    assert original["index"].avg_duration_ms is None

    replay = await repo.route_message_counts(EXEC_B)
    assert {route: (c.total_messages, c.completed, c.in_progress, c.cancelled) for route, c in replay.items()} == {
        "embed": (1, 1, 0, 0),
        "index": (2, 0, 1, 1),
    }
    assert await repo.route_message_counts(NOWHERE) == {}


# ---------------------------------------------------------------------- failures of the database


async def test_a_missing_table_is_reported_as_database_unavailable(
    repo: LineageRepository, db_engine: AsyncEngine
) -> None:
    async with db_engine.begin() as connection:
        await connection.execute(text("DROP TABLE pipeline_lineage"))
    with pytest.raises(ServiceUnavailableError) as raised:
        await repo.list()
    assert raised.value.code == "database_unavailable"
    assert raised.value.__cause__ is not None


async def test_an_unreachable_server_is_reported_as_database_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = create_database_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/none")
    try:
        repository = LineageRepository(create_session_factory(engine))
        for query in (lambda: repository.get(R), lambda: repository.stats(EXEC_A), lambda: repository.chain(R)):
            with pytest.raises(ServiceUnavailableError) as raised:
                await query()
            assert raised.value.code == "database_unavailable"
    finally:
        await engine.dispose()


async def test_writing_and_reading_on_the_migrated_schema(database_url: str) -> None:
    engine = create_database_engine(database_url)
    try:
        await run_migrations(engine)
        invocation = StageInvocation(
            execution_id=EXEC_A, route_id="crawl", stage_name="fetch", adapter_name="fetch", adapter_index=0,
            correlation_id=R,
        )  # fmt: skip
        async with LineageRecorder(database_url) as recorder:
            service = LineageService(recorder)
            row = service.begin(invocation, {"url": "https://example.org"})
            service.complete(row, AdapterResult(emitted=[{"n": 1}]), storage_key="k.fanout.json")
            child = service.begin(replace(invocation, correlation_id=C1, parent_correlation_id=R), {"n": 1})
            service.fail(child, error=NonRetryableError("broken"))
            assert await recorder.flush(EXEC_A)

        repository = LineageRepository(create_session_factory(engine))
        chain = await repository.chain(C1)
        assert chain is not None
        assert [m.correlation_id for m in chain.ancestors] == [R] and chain.message.status == "failed"
        rows, total = await repository.list(execution_id=EXEC_A, url="EXAMPLE")
        assert (total, rows[0].entry_metadata["result"]) == (1, "emitted")
        assert (await repository.stage_counts(EXEC_A)).to_api_dict()["failed"] == 1
    finally:
        await engine.dispose()
