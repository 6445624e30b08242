from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_execution import (
    ConfigSourceType,
    ExecutionNotFoundError,
    PipelineExecution,
    PipelineExecutionRepository,
    TagConflictError,
)
from factflow_protocols import ErrorInfo

MakeExecution = Callable[..., PipelineExecution]


@pytest.fixture
def repo(session_factory: async_sessionmaker[AsyncSession]) -> PipelineExecutionRepository:
    return PipelineExecutionRepository(session_factory)


async def test_insert_and_read_back_every_field(
    repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = make_execution(
        tag="nightly-1",
        metadata={"who": "test", "nested": {"a": [1, 2]}},
        init_payload={"url": "https://x"},
        root_correlation_id="0190c6a4-0000-7000-8000-000000000001",
    )
    inserted = await repo.insert(execution)
    loaded = await repo.get(execution.execution_id)
    assert loaded.metadata == {"who": "test", "nested": {"a": [1, 2]}}
    assert loaded.init_payload == {"url": "https://x"}
    assert loaded.config_snapshot == execution.config_snapshot
    assert loaded.stored_snapshot == execution.stored_snapshot
    assert loaded.started_at == execution.started_at
    assert loaded.status == "running" and not loaded.cancel_requested and loaded.recovery_count == 0
    assert loaded.updated_at is not None
    assert inserted.execution_id == loaded.execution_id


async def test_tag_is_unique(repo: PipelineExecutionRepository, make_execution: MakeExecution) -> None:
    await repo.insert(make_execution(tag="dup"))
    with pytest.raises(TagConflictError) as info:
        await repo.insert(make_execution(tag="dup"))
    assert info.value.code == "tag_conflict"
    assert await repo.tag_exists("dup")
    assert not await repo.tag_exists("other")
    # Untagged executions never conflict with each other.
    await repo.insert(make_execution())
    await repo.insert(make_execution())


async def test_resolve_ref_uuid_is_id_anything_else_tag(
    repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await repo.insert(make_execution(tag="release-2025.03"))
    assert (await repo.resolve(execution.execution_id)).execution_id == execution.execution_id
    assert (await repo.resolve(execution.execution_id.upper())).execution_id == execution.execution_id
    assert (await repo.resolve("release-2025.03")).execution_id == execution.execution_id
    with pytest.raises(ExecutionNotFoundError) as info:
        await repo.resolve("0190c6a4-0000-7000-8000-00000000ffff")
    assert info.value.code == "execution_not_found"
    with pytest.raises(ExecutionNotFoundError):
        await repo.resolve("no-such-tag")


async def test_list_filters_sort_and_paging(repo: PipelineExecutionRepository, make_execution: MakeExecution) -> None:
    base = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    config_a, config_b = "0190c6a4-0000-7000-8000-00000000000a", "0190c6a4-0000-7000-8000-00000000000b"
    parent = await repo.insert(make_execution(config_id=config_a, started_at=base, status="completed", tag="p"))
    child = await repo.insert(
        make_execution(
            config_id=config_b,
            started_at=base + timedelta(minutes=1),
            source=ConfigSourceType.REPLAY,
            parent_execution_id=parent.execution_id,
            status="failed",
        )
    )
    cli = await repo.insert(
        make_execution(config_id=config_a, started_at=base + timedelta(minutes=2), source=ConfigSourceType.CLI)
    )

    def ids(page: object) -> list[str]:
        return [e.execution_id for e in page.items]  # type: ignore[attr-defined]

    assert ids(await repo.list()) == [cli.execution_id, child.execution_id, parent.execution_id]
    assert ids(await repo.list(sort_order="asc")) == [parent.execution_id, child.execution_id, cli.execution_id]
    assert ids(await repo.list(status="running")) == [cli.execution_id]
    assert ids(await repo.list(status=["completed", "failed"])) == [child.execution_id, parent.execution_id]
    assert ids(await repo.list(config_id=config_a)) == [cli.execution_id, parent.execution_id]
    assert ids(await repo.list(parent_execution_id=parent.execution_id)) == [child.execution_id]
    assert ids(await repo.list(tag="p")) == [parent.execution_id]
    assert ids(await repo.list(source="cli")) == [cli.execution_id]
    assert ids(await repo.list(source=ConfigSourceType.REPLAY)) == [child.execution_id]
    assert ids(await repo.list(started_after=base + timedelta(minutes=1))) == [cli.execution_id, child.execution_id]
    assert ids(await repo.list(started_before=base + timedelta(minutes=1))) == [parent.execution_id]
    page = await repo.list(limit=1, offset=1)
    assert ids(page) == [child.execution_id] and page.total == 3 and page.has_more
    assert ids(await repo.children(parent.execution_id)) == [child.execution_id]


async def test_same_started_at_orders_by_id(repo: PipelineExecutionRepository, make_execution: MakeExecution) -> None:
    moment = datetime(2025, 3, 1, tzinfo=UTC)
    first = await repo.insert(make_execution(started_at=moment))
    second = await repo.insert(make_execution(started_at=moment))
    assert first.execution_id < second.execution_id
    assert [e.execution_id for e in (await repo.list()).items] == [second.execution_id, first.execution_id]


async def test_conditional_transition_applies_once(
    repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await repo.insert(make_execution())
    assert await repo.transition(execution.execution_id, "interrupted", from_statuses=["running"])
    assert not await repo.transition(execution.execution_id, "interrupted", from_statuses=["running"])
    error_info = ErrorInfo("x", "stopped by the test").as_dict()
    assert await repo.transition(
        execution.execution_id, "cancelled", from_statuses=["interrupted"], values={"error_info": error_info}
    )
    loaded = await repo.get(execution.execution_id)
    assert loaded.status == "cancelled" and loaded.error_info == error_info
    assert not await repo.transition("0190c6a4-0000-7000-8000-00000000ffff", "failed", from_statuses=["running"])
    with pytest.raises(ValueError, match="status"):
        await repo.transition(execution.execution_id, "failed", from_statuses=["cancelled"], values={"status": "x"})


async def test_racing_finishers_only_one_wins(repo: PipelineExecutionRepository, make_execution: MakeExecution) -> None:
    execution = await repo.insert(make_execution())
    results = await asyncio.gather(
        repo.finish(execution.execution_id, "completed", message_counts={"published": 1}),
        repo.finish(execution.execution_id, "cancelled"),
        repo.finish(execution.execution_id, "failed", error_info=ErrorInfo("dead_letter_threshold_exceeded", "x")),
    )
    assert sorted(results) == [False, False, True]
    loaded = await repo.get(execution.execution_id)
    winner = ["completed", "cancelled", "failed"][results.index(True)]
    assert loaded.status == winner


async def test_finish_sets_completion_fields(repo: PipelineExecutionRepository, make_execution: MakeExecution) -> None:
    started = datetime.now(UTC) - timedelta(seconds=2)
    execution = await repo.insert(make_execution(started_at=started))
    completed = started + timedelta(milliseconds=1500)
    stats = {"execution_id": execution.execution_id, "status": "completed"}
    counts = {"published": 3, "handled": 3, "in_flight": 0, "dead_lettered": 0, "tolerated_failures": 0}
    assert await repo.finish(
        execution.execution_id, "completed", completed_at=completed, message_counts=counts, stats=stats
    )
    loaded = await repo.get(execution.execution_id)
    assert loaded.status == "completed"
    assert loaded.completed_at == completed
    assert loaded.duration_ms == pytest.approx(1500.0)
    assert loaded.message_counts == counts and loaded.stats == stats
    assert loaded.error_info is None
    # A second finisher loses and changes nothing.
    assert not await repo.finish(execution.execution_id, "failed", error_info=ErrorInfo("x", "x"))
    assert (await repo.get(execution.execution_id)).status == "completed"


async def test_cancel_request_and_recovery_helpers(
    repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    running = await repo.insert(make_execution())
    done = await repo.insert(make_execution(status="completed"))
    assert await repo.request_cancel(running.execution_id)
    assert not await repo.request_cancel(done.execution_id)
    assert (await repo.get(running.execution_id)).cancel_requested

    assert await repo.interrupt_running() == [running.execution_id]
    assert (await repo.get(running.execution_id)).status == "interrupted"
    assert await repo.resume(running.execution_id)
    assert not await repo.resume(running.execution_id)
    resumed = await repo.get(running.execution_id)
    assert resumed.status == "running" and resumed.recovery_count == 1 and resumed.recovered_at is not None

    assert await repo.freeze_stats(done.execution_id, stats={"a": 1}, message_counts={"published": 0})
    assert await repo.update_replay(done.execution_id, {"publish_status": "completed"})
    loaded = await repo.get(done.execution_id)
    assert loaded.stats == {"a": 1} and loaded.replay == {"publish_status": "completed"}


async def test_deep_offset_pages_match_the_full_order(
    repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    # Past offset 1,000 the page's ids come from the index first; the page must be the same.
    base = datetime(2025, 5, 1, tzinfo=UTC)
    for number in range(1010):
        # Pairs share a `started_at`, so the tie-break by id crosses the page boundary.
        await repo.insert(make_execution(started_at=base + timedelta(seconds=number // 2)))
    everything = [e.execution_id for e in (await repo.list(limit=2000)).items]
    for order in ("desc", "asc"):
        full = everything if order == "desc" else everything[::-1]
        for offset in (999, 1000, 1001, 1009, 1010):
            page = await repo.list(sort_order=order, limit=5, offset=offset)
            assert [e.execution_id for e in page.items] == full[offset : offset + 5], (order, offset)
            assert page.total == 1010
