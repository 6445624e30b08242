"""Revision 0005 converts rows written in the previous layout; they read back identically, and back again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_foundation import rfc3339_or_none
from factflow_infra.database import UTCDateTime, alembic_config, create_database_engine, create_session_factory
from factflow_lineage import LineageRepository

EXEC = "0195f000-0000-7000-8000-0000000000e1"
T0 = datetime(2026, 3, 1, 9, 0, 0, 250000, tzinfo=UTC)
SHA_A, SHA_B = "sha256:" + "ab" * 32, "sha256:" + "0f" * 32
JSON_COLUMN = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

OLD = sa.Table(
    "pipeline_lineage",
    sa.MetaData(),
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("correlation_id", sa.String(36)),
    sa.Column("parent_correlation_id", sa.String(36)),
    sa.Column("execution_id", sa.String(36)),
    sa.Column("route_id", sa.String(64)),
    sa.Column("adapter_name", sa.String(64)),
    sa.Column("adapter_index", sa.Integer()),
    sa.Column("stage_name", sa.String(128)),
    sa.Column("stage_status", sa.String(16)),
    sa.Column("input_hash", sa.String(80)),
    sa.Column("output_hash", sa.String(80)),
    sa.Column("started_at", UTCDateTime),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("duration_ms", sa.Float()),
    sa.Column("error_info", JSON_COLUMN),
    sa.Column("replay_batch_id", sa.String(36)),
    sa.Column("batch_id", sa.String(36)),
    sa.Column("delivery_count", sa.Integer()),
    sa.Column("storage_key", sa.String(1024)),
    sa.Column("metadata", JSON_COLUMN),
)


def _row(number: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"0195f000-0000-7000-8000-{number:012d}",
        "correlation_id": f"0195f000-0000-7000-9000-{number:012d}",
        "parent_correlation_id": None,
        "execution_id": EXEC,
        "route_id": "ingest",
        "adapter_name": "fetch",
        "adapter_index": 0,
        "stage_name": "fetch",
        "stage_status": "completed",
        "input_hash": SHA_A,
        "output_hash": SHA_B,
        "started_at": T0 + timedelta(seconds=number),
        "completed_at": T0 + timedelta(seconds=number, milliseconds=5),
        "duration_ms": 4.5 + number,
        "error_info": None,
        "replay_batch_id": None,
        "batch_id": None,
        "delivery_count": 1,
        "storage_key": None,
        "metadata": {},
    }
    row.update(values)
    return row


def _output_key(row: dict[str, Any], suffix: str) -> str:
    return f"executions/{row['execution_id']}/{row['route_id']}/{row['stage_name']}/{row['correlation_id']}{suffix}"


def _old_rows() -> list[dict[str, Any]]:
    plain = _row(1, metadata={"attempts": 1, "result": "message", "emitted_count": 0, "trace_id": "t-1"})
    plain["storage_key"] = _output_key(plain, ".json")
    texts = _row(
        2,
        id="row-two",
        correlation_id="msg-two",
        parent_correlation_id=plain["correlation_id"],
        route_id="enrich",
        adapter_name="tag",
        adapter_index=1,
        stage_name="tagging",
        stage_status="failed",
        input_hash="md5:not-a-sha",
        output_hash=None,
        error_info={"error_type": "AdapterError", "message": "boom", "attempts": 3, "retryable": False},
        replay_batch_id="batch-x",
        batch_id="0195F000-0000-7000-8000-0000000000AB",  # upper case: kept as written
        metadata={"attempts": 3, "dead_lettered": True},
    )
    texts["storage_key"] = _output_key(texts, ".fanout.json")
    odd = _row(
        3,
        parent_correlation_id="msg-two",
        stage_status="skipped",
        input_hash=None,
        output_hash=None,
        duration_ms=None,
        storage_key="custom/place.json",
        metadata={"attempts": 1.5, "result": "weird", "emitted_count": -1, "nested": {"a": [1, None]}},
    )
    waiting = _row(4, stage_status="pending", completed_at=None, delivery_count=3, metadata={"attempts": 2})
    slow = _row(5, duration_ms=900.0, metadata={"result": "emitted", "emitted_count": 12_345})
    return [plain, texts, odd, waiting, slow]


def _api(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "started_at": rfc3339_or_none(row["started_at"]),
        "completed_at": rfc3339_or_none(row["completed_at"]),
    }


async def _migrate(engine: AsyncEngine, revision: str, *, down: bool = False) -> None:
    def run(connection: sa.Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def test_rows_of_the_previous_layout_read_back_identically_and_convert_back(database_url: str) -> None:
    engine = create_database_engine(database_url, pool_size=2)
    try:
        await _migrate(engine, "0004")
        old_rows = _old_rows()
        async with engine.begin() as connection:
            await connection.execute(OLD.insert(), old_rows)

        await _migrate(engine, "head")
        repository = LineageRepository(create_session_factory(engine))
        for row in old_rows:
            entry = await repository.get_entry(row["id"])
            assert entry is not None, row["id"]
            assert entry.to_api_dict() == _api(row)
        rows, total = await repository.execution_rows(EXEC)
        assert total == len(old_rows)
        assert [entry.to_api_dict() for entry in rows] == [_api(row) for row in old_rows]
        chain = await repository.chain("msg-two")
        assert chain is not None
        assert [message.correlation_id for message in chain.ancestors] == [old_rows[0]["correlation_id"]]
        assert [message.correlation_id for message in chain.descendants] == [old_rows[2]["correlation_id"]]

        # The counters computed by the conversion equal the aggregates of the rows.
        stats = {(row.route_id, row.adapter_index): row for row in (await repository.stats(EXEC)).rows}
        ingest, enrich = stats[("ingest", 0)], stats[("enrich", 1)]
        assert (ingest.count, ingest.completed, ingest.skipped, ingest.pending) == (4, 2, 1, 1)
        assert ingest.avg_duration_ms == (5.5 + 900.0) / 2 and ingest.max_duration_ms == 900.0
        assert (enrich.count, enrich.failed, enrich.avg_duration_ms) == (1, 1, None)
        async with engine.connect() as connection:  # revision 0006 counted the converted rows per 10 s span
            spans = await connection.scalar(sa.text("SELECT sum(row_count) FROM pipeline_lineage_buckets"))
        assert spans == len(old_rows)

        await _migrate(engine, "0004", down=True)
        async with engine.connect() as connection:
            back = [dict(row._mapping) for row in await connection.execute(sa.select(OLD).order_by(OLD.c.started_at))]
        assert back == old_rows
        await _migrate(engine, "head")
    finally:
        await engine.dispose()
