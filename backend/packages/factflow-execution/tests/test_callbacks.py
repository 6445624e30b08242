from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_engine._ports import FinalStatus, OrchestratorCallbacks
from factflow_execution import (
    ExecutionEventHub,
    ExecutionStatus,
    ExecutionStatusCallbackAdapter,
    PipelineExecution,
    PipelineExecutionRepository,
)
from factflow_execution._calculator import StatsCalculator
from factflow_execution._stats import route_counts_to_json
from factflow_foundation import ServiceUnavailableError, new_id
from factflow_infra.database import create_database_engine
from factflow_infra.errors import DatabaseUnavailableError
from factflow_lineage import LineageRepository, LineageRouteRow, PipelineLineageEntry
from factflow_lineage.testing import insert_entries
from factflow_protocols import ErrorInfo

MakeExecution = Callable[..., PipelineExecution]


class FlakyRepository(PipelineExecutionRepository):
    """Fails the first `failures` final-status writes as a database outage would."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], failures: int) -> None:
        super().__init__(sessions)
        self.failures = failures
        self.attempts = 0

    async def finish(self, execution_id: str, status: ExecutionStatus, **kwargs: Any) -> bool:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise DatabaseUnavailableError("The database is unavailable: test outage")
        return await super().finish(execution_id, status, **kwargs)


async def test_on_stopped_retries_until_the_database_is_back_then_announces(
    sqlite_session_factory: async_sessionmaker[AsyncSession], make_execution: MakeExecution
) -> None:
    repo = FlakyRepository(sqlite_session_factory, failures=2)
    execution = await repo.insert(make_execution())
    hub = ExecutionEventHub()
    adapter = ExecutionStatusCallbackAdapter(
        executions=repo,
        hub=hub,
        stats=StatsCalculator(LineageRepository(sqlite_session_factory)),
        retry_initial_delay=0.01,
    )
    assert isinstance(adapter, OrchestratorCallbacks)
    with hub.subscribe([execution.execution_id]) as subscription:
        await adapter.on_started(execution.execution_id)
        await adapter.on_stopped(
            execution.execution_id,
            "failed",
            ErrorInfo("dead_letter_threshold_exceeded", "3 > 2"),
            {"published": 4, "handled": 4, "in_flight": 0, "dead_lettered": 3},
        )
        # By the time on_stopped returns, the row holds the final status and streams were told.
        stored = await repo.get(execution.execution_id)
        assert stored.status == "failed" and repo.attempts == 3
        assert stored.message_counts == {
            "published": 4,
            "handled": 4,
            "in_flight": 0,
            "dead_lettered": 3,
            "tolerated_failures": 2,
        }
        assert stored.stats is not None and stored.stats["status"] == "failed"
        assert stored.stats["message_counts"] == stored.message_counts
        assert [a["stage_name"] for a in stored.stats["adapters"]] == ["echo", "shout", "echo"]
        events = subscription.drain()
        assert [(e.event, e.data["status"]) for e in events] == [
            ("execution.status", "running"),
            ("execution.status", "failed"),
        ]
        end = subscription.ended(execution.execution_id)
        assert end is not None and end.reason == "terminal"


async def test_on_stopped_after_a_lost_race_changes_and_announces_nothing(
    sqlite_session_factory: async_sessionmaker[AsyncSession], make_execution: MakeExecution
) -> None:
    repo = PipelineExecutionRepository(sqlite_session_factory)
    execution = await repo.insert(make_execution())
    assert await repo.finish(execution.execution_id, "cancelled")
    hub = ExecutionEventHub()
    adapter = ExecutionStatusCallbackAdapter(
        executions=repo, hub=hub, stats=StatsCalculator(LineageRepository(sqlite_session_factory))
    )
    with hub.subscribe([execution.execution_id]) as subscription:
        await adapter.on_stopped(execution.execution_id, "completed", None, {})
        assert subscription.drain() == [] and subscription.ended(execution.execution_id) is None
    assert (await repo.get(execution.execution_id)).status == "cancelled"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_unreachable_database_is_service_unavailable() -> None:
    engine = create_database_engine(f"postgresql+asyncpg://factflow@127.0.0.1:{_closed_port()}/factflow")
    try:
        repo = PipelineExecutionRepository(async_sessionmaker(engine))
        with pytest.raises(ServiceUnavailableError) as info:
            await repo.find("0190c6a4-0000-7000-8000-00000000ffff")
        assert info.value.code == "database_unavailable"
    finally:
        await engine.dispose()


def _entries(execution_id: str, statuses: list[str]) -> list[PipelineLineageEntry]:
    """One message per status in route `work`, a row each."""
    started = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    return [
        PipelineLineageEntry(
            id=new_id(),
            correlation_id=new_id(),
            execution_id=execution_id,
            route_id="work",
            adapter_name="echo",
            adapter_index=0,
            stage_name="echo",
            stage_status=status,
            started_at=started + timedelta(seconds=number),
        )
        for number, status in enumerate(statuses)
    ]


async def _sealed_routes(sessions: async_sessionmaker[AsyncSession], execution_id: str) -> list[bool]:
    async with sessions() as session:
        found = await session.scalars(
            select(LineageRouteRow.sealed).where(LineageRouteRow.execution_id == execution_id)
        )
        return list(found)


@pytest.mark.parametrize(("status", "sealed"), [("completed", True), ("cancelled", True), ("interrupted", False)])
async def test_on_stopped_seals_the_route_counters_of_an_execution_that_ended(
    session_factory: async_sessionmaker[AsyncSession],
    make_execution: MakeExecution,
    status: FinalStatus,
    sealed: bool,
) -> None:
    engine = session_factory.kw["bind"]
    repo = PipelineExecutionRepository(session_factory)
    lineage = LineageRepository(session_factory)
    execution = await repo.insert(make_execution())
    entries = _entries(execution.execution_id, ["completed", "completed", "failed", "processing"])
    await insert_entries(engine, entries)
    adapter = ExecutionStatusCallbackAdapter(executions=repo, hub=ExecutionEventHub(), stats=StatsCalculator(lineage))
    await adapter.on_stopped(execution.execution_id, status, None, {})

    stored = await repo.get(execution.execution_id)
    assert stored.route_counts is not None
    assert stored.route_counts["work"]["failed"] == 1 and stored.route_counts["work"]["in_progress"] == 1
    assert await _sealed_routes(session_factory, execution.execution_id) == [sealed]

    # A worker's late writes: the open row finishes, the failed one is re-run, a new message.
    late = [
        replace(entries[3], stage_status="completed"),
        replace(entries[2], id=new_id(), stage_status="completed"),
        *_entries(execution.execution_id, ["pending"]),
    ]
    await insert_entries(engine, late)
    counters = route_counts_to_json(await lineage.route_counters(execution.execution_id))
    if sealed:
        assert counters == stored.route_counts, "sealed: the counters stay as frozen"
    else:
        assert counters["work"]["in_progress"] == 1 and counters["work"]["total_messages"] == 5, "recovery counts on"
    assert (await repo.get(execution.execution_id)).route_counts == stored.route_counts
