"""Revision 0007 counts the messages of rows written before it, as the aggregation over the rows does."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_infra.database import alembic_config, create_database_engine, create_session_factory
from factflow_lineage import LineageRecorder, LineageRepository, StageStatus
from factflow_protocols import LineageRecord

EXEC_A = "0195f000-0000-7000-8000-0000000007a1"
EXEC_B = "0195f000-0000-7000-8000-0000000007b1"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def _migrate(engine: AsyncEngine, revision: str, *, down: bool = False) -> None:
    def run(connection: sa.Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


def _rows() -> list[LineageRecord]:
    # Messages with several rows per route (stages, re-runs) in every mix of statuses.
    rng = random.Random(7)
    messages = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(40)]
    rows: list[LineageRecord] = []
    for number in range(300):
        rows.append(
            LineageRecord(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                correlation_id=rng.choice(messages),
                parent_correlation_id=None,
                execution_id=rng.choice((EXEC_A, EXEC_B)),
                route_id=rng.choice(("crawl", "embed")),
                adapter_name="step",
                adapter_index=rng.randrange(3),
                stage_name="step",
                stage_status=rng.choice(tuple(StageStatus)),
                started_at=T0 + timedelta(milliseconds=53 * number),
                duration_ms=rng.choice((None, 3.0, 11.5)),
            )
        )
    return rows


async def test_upgrade_counts_the_messages_of_existing_rows(database_url: str) -> None:
    engine = create_database_engine(database_url, pool_size=2)
    try:
        await _migrate(engine, "0006")
        async with LineageRecorder(engine, batch_size=50) as recorder:
            for row in _rows():
                recorder.record(row)
            assert await recorder.flush()
        await _migrate(engine, "head")
        repository = LineageRepository(create_session_factory(engine))
        for execution_id in (EXEC_A, EXEC_B):
            counts = await repository.route_message_counts(execution_id)
            assert set(counts) == {"crawl", "embed"}
            assert await repository.route_counters(execution_id) == counts

        # Down and up again: the counters are rebuilt the same.
        await _migrate(engine, "0006", down=True)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
        assert not tables & {"pipeline_lineage_routes", "pipeline_lineage_messages"}
        await _migrate(engine, "head")
        for execution_id in (EXEC_A, EXEC_B):
            assert await repository.route_counters(execution_id) == await repository.route_message_counts(execution_id)
    finally:
        await engine.dispose()
