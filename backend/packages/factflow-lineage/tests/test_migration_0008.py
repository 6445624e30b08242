"""Revision 0008 seals the routes of executions whose counts are frozen; its downgrade counts every message again."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_infra.database import alembic_config, create_database_engine, create_session_factory
from factflow_lineage import LineageRecorder, LineageRepository, StageStatus
from factflow_protocols import LineageRecord

EXEC_FROZEN = "0195f000-0000-7000-8000-0000000008a1"
EXEC_UNFROZEN = "0195f000-0000-7000-8000-0000000008b1"
EXEC_RUNNING = "0195f000-0000-7000-8000-0000000008c1"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def _migrate(engine: AsyncEngine, revision: str, *, down: bool = False) -> None:
    def run(connection: sa.Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def _execution(engine: AsyncEngine, execution_id: str, status: str, route_counts: str | None) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO pipeline_executions (id, config_id, config_name, config_version, status, source,"
                " started_at, config_snapshot, metadata, cancel_requested, recovery_count, updated_at, route_counts)"
                " VALUES (:id, :id, 'seal', 1, :status, 'api', :started, '{}', '{}', false, 0, :started,"
                " :route_counts)"
            ),
            {"id": execution_id, "status": status, "started": T0, "route_counts": route_counts},
        )


def _rows() -> list[LineageRecord]:
    rng = random.Random(8)
    messages = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(30)]
    return [
        LineageRecord(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            correlation_id=rng.choice(messages),
            parent_correlation_id=None,
            execution_id=rng.choice((EXEC_FROZEN, EXEC_UNFROZEN, EXEC_RUNNING)),
            route_id=rng.choice(("crawl", "embed")),
            adapter_name="step",
            adapter_index=rng.randrange(2),
            stage_name="step",
            stage_status=rng.choice(tuple(StageStatus)),
            started_at=T0 + timedelta(milliseconds=37 * number),
        )
        for number in range(240)
    ]


async def _sealed(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        found = await connection.execute(
            sa.text("SELECT DISTINCT execution_id FROM pipeline_lineage_routes WHERE sealed")
        )
        return {str(execution_id) for execution_id in found.scalars()}


async def test_upgrade_seals_frozen_executions_and_downgrade_counts_again(database_url: str) -> None:
    engine = create_database_engine(database_url, pool_size=2)
    try:
        await _migrate(engine, "0007")
        await _execution(engine, EXEC_FROZEN, "completed", json.dumps({"crawl": {"total_messages": 1}}))
        await _execution(engine, EXEC_UNFROZEN, "failed", "null")  # written as `None`: JSON null
        await _execution(engine, EXEC_RUNNING, "running", None)
        async with LineageRecorder(engine, batch_size=40) as recorder:
            for row in _rows():
                recorder.record(row)
            assert await recorder.flush()

        await _migrate(engine, "0008")
        assert await _sealed(engine) == {EXEC_FROZEN}
        repository = LineageRepository(create_session_factory(engine))
        for execution_id in (EXEC_FROZEN, EXEC_UNFROZEN, EXEC_RUNNING):
            assert await repository.route_counters(execution_id) == await repository.route_message_counts(execution_id)

        # Compacted, then down: the counters of every execution are counted from the rows again,
        # and 0007's triggers keep them (a new row moves the frozen execution's counts once more).
        assert await repository.compact_sealed_messages() > 0
        await _migrate(engine, "0007", down=True)
        async with engine.connect() as connection:
            columns = await connection.run_sync(
                lambda sync: {column["name"] for column in sa.inspect(sync).get_columns("pipeline_lineage_routes")}
            )
        assert "sealed" not in columns
        async with LineageRecorder(engine) as recorder:
            recorder.record(_new_message(_rows()[0], EXEC_FROZEN))
            assert await recorder.flush()
        for execution_id in (EXEC_FROZEN, EXEC_UNFROZEN, EXEC_RUNNING):
            counted = await repository.route_message_counts(execution_id)
            async with engine.connect() as connection:
                found = await connection.execute(
                    sa.text("SELECT route_id, message_count FROM pipeline_lineage_routes WHERE execution_id = :e"),
                    {"e": execution_id},
                )
                kept = {str(route_id): int(count) for route_id, count in found.all()}
            assert kept == {route_id: counts.total_messages for route_id, counts in counted.items()}

        # Up again: sealed as before.
        await _migrate(engine, "head")
        assert await _sealed(engine) == {EXEC_FROZEN}
        for execution_id in (EXEC_FROZEN, EXEC_UNFROZEN, EXEC_RUNNING):
            assert await repository.route_counters(execution_id) == await repository.route_message_counts(execution_id)
    finally:
        await engine.dispose()


def _new_message(row: LineageRecord, execution_id: str) -> LineageRecord:
    """A new row of `execution_id` (a new message) in the `crawl` route."""
    return LineageRecord(
        id=str(uuid.uuid4()),
        correlation_id=str(uuid.uuid4()),
        parent_correlation_id=None,
        execution_id=execution_id,
        route_id="crawl",
        adapter_name=row.adapter_name,
        adapter_index=0,
        stage_name=row.stage_name,
        stage_status=StageStatus.COMPLETED,
        started_at=row.started_at,
    )
