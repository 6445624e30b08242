"""Lineage retention over a migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_engine.config import ConfigSnapshot
from factflow_execution import (
    ConfigSourceType,
    ExecutionStatus,
    PipelineExecution,
    PipelineExecutionRepository,
    PipelineExecutionRow,
    StoredSnapshot,
)
from factflow_foundation import new_id
from factflow_infra.testing.plugin import database_url, db_engine, db_session_factory
from factflow_lineage import LineageRepository, LineageStageRow, PipelineLineageEntry
from factflow_lineage.testing import insert_entries
from factflow_server._retention import LineageRetention

__all__ = ("database_url", "db_engine", "db_session_factory")

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ROWS = 23


async def _execution(
    sessions: async_sessionmaker[AsyncSession],
    status: ExecutionStatus,
    finished_days_ago: float | None,
    *,
    own_days: float | None = None,
) -> str:
    execution_id = new_id()
    started = NOW - timedelta(days=60)
    await PipelineExecutionRepository(sessions).insert(
        PipelineExecution(
            execution_id=execution_id,
            config_id=new_id(),
            config_name="retention",
            config_version=1,
            status=status,
            source=ConfigSourceType.API,
            started_at=started,
            completed_at=None if finished_days_ago is None else NOW - timedelta(days=finished_days_ago),
            stored_snapshot=StoredSnapshot(ConfigSnapshot.model_validate({"config": {"version": "1.0", "routes": {}}})),
        ),
        lineage_retention_days=own_days,
    )
    await insert_entries(
        sessions.kw["bind"],
        (
            PipelineLineageEntry(
                id=new_id(),
                correlation_id=new_id(),
                execution_id=execution_id,
                route_id="r",
                adapter_name="a",
                adapter_index=0,
                stage_name="a",
                stage_status="completed",
                # Rows as old as the execution: retention goes by when the execution finished.
                started_at=started + timedelta(seconds=n),
            )
            for n in range(ROWS)
        ),
    )
    return execution_id


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    # The rows themselves, counted, and the stage counters must agree.
    rows, _ = await LineageRepository(sessions).list(limit=100_000)
    counted: dict[str, int] = {}
    for row in rows:
        counted[row.execution_id] = counted.get(row.execution_id, 0) + 1
    async with sessions() as session:
        result = await session.execute(
            select(LineageStageRow.execution_id, func.sum(LineageStageRow.row_count)).group_by(
                LineageStageRow.execution_id
            )
        )
        counters = {execution_id: int(count) for execution_id, count in result.all() if count}
    assert counters == counted
    return counted


async def test_retention_deletes_only_lineage_of_executions_finished_before_their_horizon(
    db_session_factory: async_sessionmaker[AsyncSession],
) -> None:
    sessions = db_session_factory
    old = await _execution(sessions, "completed", 40)
    old_failed = await _execution(sessions, "failed", 31)
    recent = await _execution(sessions, "completed", 2)
    running = await _execution(sessions, "running", None)
    interrupted = await _execution(sessions, "interrupted", None)
    keeps_longer = await _execution(sessions, "cancelled", 40, own_days=365)
    expires_sooner = await _execution(sessions, "completed", 2, own_days=1)
    clock = [NOW]
    retention = LineageRetention(
        sessions=sessions,
        executions=PipelineExecutionRepository(sessions),
        lineage=LineageRepository(sessions),
        retention_days=30,
        batch_pause_seconds=0,
        clock=lambda: clock[0],
    )
    assert await retention.sweep() == 3 * ROWS
    remaining = await _rows(sessions)
    assert remaining == {recent: ROWS, running: ROWS, interrupted: ROWS, keeps_longer: ROWS}
    assert {old, old_failed, expires_sooner}.isdisjoint(remaining)
    async with sessions() as session:
        purged = await session.scalars(
            select(PipelineExecutionRow.id).where(PipelineExecutionRow.lineage_purged_at.is_not(None))
        )
        assert set(purged) == {old, old_failed, expires_sooner}
    assert await retention.sweep() == 0, "a second pass finds nothing"
    clock[0] = NOW + timedelta(days=400)
    assert await retention.sweep() == 2 * ROWS
    assert await _rows(sessions) == {running: ROWS, interrupted: ROWS}


async def test_without_a_setting_only_own_horizons_apply(db_session_factory: async_sessionmaker[AsyncSession]) -> None:
    sessions = db_session_factory
    kept = await _execution(sessions, "completed", 4000)
    own = await _execution(sessions, "completed", 8, own_days=7)
    retention = LineageRetention(
        sessions=sessions,
        executions=PipelineExecutionRepository(sessions),
        lineage=LineageRepository(sessions),
        retention_days=None,
        batch_pause_seconds=0,
        clock=lambda: NOW,
    )
    assert await retention.sweep() == ROWS
    assert await _rows(sessions) == {kept: ROWS}
    assert own not in await _rows(sessions)


async def test_the_loop_starts_and_stops(db_session_factory: async_sessionmaker[AsyncSession]) -> None:
    retention = LineageRetention(
        sessions=db_session_factory,
        executions=PipelineExecutionRepository(db_session_factory),
        lineage=LineageRepository(db_session_factory),
        retention_days=1,
        interval_seconds=3600,
    )
    await retention.shutdown()  # safe before start
    retention = LineageRetention(
        sessions=db_session_factory,
        executions=PipelineExecutionRepository(db_session_factory),
        lineage=LineageRepository(db_session_factory),
        retention_days=1,
        interval_seconds=3600,
    )
    retention.start()
    retention.start()
    await retention.shutdown()
    await retention.shutdown()


async def _message_rows(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        found = await session.execute(
            text(
                "SELECT r.execution_id, count(*) FROM pipeline_lineage_messages AS m"
                " JOIN pipeline_lineage_routes AS r ON r.route_key = m.route_key GROUP BY r.execution_id"
            )
        )
        return {str(execution_id): int(count) for execution_id, count in found.all()}


async def test_each_pass_compacts_the_message_counters_of_sealed_executions(
    db_session_factory: async_sessionmaker[AsyncSession],
) -> None:
    sessions = db_session_factory
    executions = PipelineExecutionRepository(sessions)
    lineage = LineageRepository(sessions)
    sealed = await _execution(sessions, "completed", 1)
    frozen_unsealed = await _execution(sessions, "failed", 1)  # ended before its routes could be sealed
    unfrozen = await _execution(sessions, "completed", 1)  # counts not frozen yet: left alone
    running = await _execution(sessions, "running", None)
    interrupted = await _execution(sessions, "interrupted", None)
    frozen = {"r": {"total_messages": ROWS}}
    for execution_id in (sealed, frozen_unsealed, interrupted):
        await executions.update_fields(execution_id, {"route_counts": frozen})
    await lineage.seal_route_counters(sealed)
    every = {execution_id: ROWS for execution_id in (sealed, frozen_unsealed, unfrozen, running, interrupted)}
    assert await _message_rows(sessions) == every
    retention = LineageRetention(
        sessions=sessions,
        executions=executions,
        lineage=lineage,
        retention_days=30,
        batch_pause_seconds=0,
        clock=lambda: NOW,
    )
    assert await retention.sweep() == 0, "no lineage row is due"
    assert await _message_rows(sessions) == {unfrozen: ROWS, running: ROWS, interrupted: ROWS}
    assert await _rows(sessions) == every, "the lineage rows stay"
    for execution_id in every:
        counts = await lineage.route_counters(execution_id)
        assert counts["r"].total_messages == ROWS
    assert await retention.compact() == 0, "a second pass finds nothing"
