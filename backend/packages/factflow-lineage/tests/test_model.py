from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import JSON, DateTime, Float, Integer, LargeBinary, SmallInteger, String, Uuid, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factflow_infra.database import Base, UTCDateTime
from factflow_lineage import LineageRecorder, LineageRepository, LineageRow
from factflow_protocols import LineageRecord, StageStatus

RecordFactory = Callable[..., LineageRecord]

# .claude/database-schema.md, table pipeline_lineage: name -> (type, length, nullable)
SCHEMA = {
    "started_at": (UTCDateTime, None, False),
    "completed_at": (UTCDateTime, None, True),
    "duration_ms": (Float, None, True),
    "stage_key": (Integer, None, False),
    "delivery_count": (SmallInteger, None, False),
    "emitted_count": (SmallInteger, None, True),
    "stage_status": (SmallInteger, None, False),
    "outcome": (SmallInteger, None, False),
    "attempts": (SmallInteger, None, True),
    "id": (Uuid, None, False),
    "correlation_id": (Uuid, None, False),
    "parent_correlation_id": (Uuid, None, True),
    "replay_batch_id": (Uuid, None, True),
    "batch_id": (Uuid, None, True),
    "input_hash": (LargeBinary, None, True),
    "output_hash": (LargeBinary, None, True),
    "id_text": (String, 36, True),
    "correlation_id_text": (String, 36, True),
    "parent_correlation_id_text": (String, 36, True),
    "replay_batch_id_text": (String, 36, True),
    "batch_id_text": (String, 36, True),
    "input_hash_text": (String, 80, True),
    "output_hash_text": (String, 80, True),
    "storage_key": (String, 1024, True),
    "error_info": (JSON, None, True),
    "metadata": (JSON, None, True),
}


TABLE = Base.metadata.tables["pipeline_lineage"]


def test_columns_follow_the_schema_document() -> None:
    table = TABLE
    assert LineageRow.__table__ is TABLE
    assert [column.name for column in table.columns] == list(SCHEMA)
    for column in table.columns:
        kind, length, nullable = SCHEMA[column.name]
        assert isinstance(column.type, kind), column.name
        assert getattr(column.type, "length", None) == length, column.name
        assert column.nullable is nullable, column.name
    assert [column.name for column in table.primary_key.columns] == ["id"]
    assert table.c.delivery_count.server_default is not None
    started_at = table.c.started_at.type
    assert isinstance(started_at, UTCDateTime)
    assert isinstance(started_at.impl, DateTime) and started_at.impl.timezone


def test_indexes_follow_the_schema_document() -> None:
    indexes = {index.name: [column.name for column in index.columns] for index in TABLE.indexes}
    assert indexes == {
        "ix_pipeline_lineage_correlation_id": ["correlation_id"],
        "ix_pipeline_lineage_parent_correlation_id": ["parent_correlation_id"],
        "ix_pipeline_lineage_started_at_stage_key": ["started_at", "stage_key"],
        "ix_pipeline_lineage_failed": ["completed_at", "id"],
        "ix_pipeline_lineage_replay_batch_id": ["replay_batch_id"],
        "ix_pipeline_lineage_batch_id": ["batch_id"],
    }


async def test_a_stored_row_reads_back_as_the_api_lineage_entry(
    db_engine: AsyncEngine, db_session_factory: async_sessionmaker[AsyncSession], make_record: RecordFactory
) -> None:
    started = datetime(2026, 3, 1, 10, 30, 12, 345678, tzinfo=timezone(timedelta(hours=1)))
    record = make_record(
        parent_correlation_id="01950000-0000-7000-8000-000000000001",
        stage_status=StageStatus.FAILED,
        started_at=started,
        completed_at=started + timedelta(seconds=2),
        duration_ms=1500.25,
        input_hash="sha256:" + "1" * 64,
        error_info={"error_type": "ValueError", "message": "bad", "traceback": "", "attempts": 3, "retryable": True},
        replay_batch_id="01950000-0000-7000-8000-0000000000b1",
        delivery_count=2,
        storage_key="executions/e/ingest/fetch/m.json",
        metadata={"url": "https://example.org", "attempts": 3, "dead_lettered": True},
    )
    async with LineageRecorder(db_engine) as recorder:
        recorder.record(record)
        assert await recorder.flush()

    entry = await LineageRepository(db_session_factory).get_entry(record.id)
    assert entry is not None
    assert entry.to_api_dict() == {
        "id": record.id,
        "correlation_id": record.correlation_id,
        "parent_correlation_id": "01950000-0000-7000-8000-000000000001",
        "execution_id": record.execution_id,
        "route_id": "ingest",
        "adapter_name": "fetch",
        "adapter_index": 0,
        "stage_name": "fetch",
        "stage_status": "failed",
        "input_hash": "sha256:" + "1" * 64,
        "output_hash": None,
        "started_at": "2026-03-01T09:30:12.345678Z",
        "completed_at": "2026-03-01T09:30:14.345678Z",
        "duration_ms": 1500.25,
        "error_info": record.error_info,
        "replay_batch_id": "01950000-0000-7000-8000-0000000000b1",
        "batch_id": None,
        "delivery_count": 2,
        "storage_key": "executions/e/ingest/fetch/m.json",
        "metadata": {"url": "https://example.org", "attempts": 3, "dead_lettered": True},
    }
    assert entry.started_at.tzinfo is not None and entry.started_at.utcoffset() == timedelta(0)


async def test_missing_error_info_is_sql_null(
    db_engine: AsyncEngine, db_session_factory: async_sessionmaker[AsyncSession], make_record: RecordFactory
) -> None:
    record = make_record(started_at=datetime(2026, 3, 1, tzinfo=UTC))
    async with LineageRecorder(db_engine) as recorder:
        recorder.record(record)
    async with db_session_factory() as session:
        found = await session.scalar(select(LineageRow.id).where(LineageRow.error_info.is_(None)))
    entry = await LineageRepository(db_session_factory).get_entry(record.id)
    assert str(found) == record.id
    assert entry is not None and entry.to_api_dict()["started_at"] == "2026-03-01T00:00:00.000000Z"
