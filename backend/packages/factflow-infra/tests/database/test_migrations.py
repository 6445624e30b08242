"""The migrations create exactly `.claude/database-schema.md`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_infra.database import create_database_engine, current_revision, head_revision, run_migrations
from factflow_infra.testing._schema import ColumnShape, TableShape, reflect_shapes


def col(kind: str, nullable: bool, length: int | None = None) -> ColumnShape:
    return ColumnShape(kind=kind, length=length, nullable=nullable)


ID = col("string", False, 36)
ID_NULL = col("string", True, 36)
TIME = col("datetime", False)
TIME_NULL = col("datetime", True)
JSON = col("json", False)
JSON_NULL = col("json", True)
UUID = col("uuid", False)
UUID_NULL = col("uuid", True)
BYTES_NULL = col("binary", True)

# Transcribed from .claude/database-schema.md.
SCHEMA_DOC: dict[str, TableShape] = {
    "pipeline_configs": TableShape(
        columns={
            "id": ID,
            "name": col("string", False, 200),
            "description": col("text", True),
            "config_yaml": col("text", False),
            "config_hash": col("string", False, 80),
            "version": col("integer", False),
            "source_type": col("string", False, 16),
            "source_path": col("string", True, 1024),
            "is_active": col("boolean", False),
            "created_at": TIME,
            "updated_at": TIME,
        },
        primary_key=("id",),
        indexes=frozenset({("source_path",), ("updated_at",)}),
    ),
    "pipeline_executions": TableShape(
        columns={
            "id": ID,
            "config_id": ID,
            "config_name": col("string", False, 200),
            "config_version": col("integer", False),
            "status": col("string", False, 16),
            "source": col("string", False, 16),
            "tag": col("string", True, 128),
            "parent_execution_id": ID_NULL,
            "replay_batch_id": ID_NULL,
            "replay_source": col("string", True, 16),
            "started_at": TIME,
            "completed_at": TIME_NULL,
            "duration_ms": col("float", True),
            "error_info": JSON_NULL,
            "config_snapshot": JSON,
            "root_correlation_id": ID_NULL,
            "init_payload": JSON_NULL,
            "metadata": JSON,
            "cancel_requested": col("boolean", False),
            "message_counts": JSON_NULL,
            "replay": JSON_NULL,
            "recovered_at": TIME_NULL,
            "recovery_count": col("integer", False),
            "stats": JSON_NULL,
            "queues_purged_at": TIME_NULL,
            "dlq_purged_at": TIME_NULL,
            "updated_at": TIME,
            "lineage_retention_days": col("float", True),
            "lineage_purged_at": TIME_NULL,
            "route_counts": JSON_NULL,
        },
        primary_key=("id",),
        indexes=frozenset(
            {
                ("config_id",),
                ("status",),
                ("parent_execution_id",),
                ("replay_batch_id",),
                ("started_at",),
                ("started_at", "id"),
            }
        ),
        unique=frozenset({("tag",)}),
    ),
    "pipeline_lineage": TableShape(
        columns={
            "started_at": TIME,
            "completed_at": TIME_NULL,
            "duration_ms": col("float", True),
            "stage_key": col("integer", False),
            "delivery_count": col("integer", False),
            "emitted_count": col("integer", True),
            "stage_status": col("integer", False),
            "outcome": col("integer", False),
            "attempts": col("integer", True),
            "id": UUID,
            "correlation_id": UUID,
            "parent_correlation_id": UUID_NULL,
            "replay_batch_id": UUID_NULL,
            "batch_id": UUID_NULL,
            "input_hash": BYTES_NULL,
            "output_hash": BYTES_NULL,
            "id_text": ID_NULL,
            "correlation_id_text": ID_NULL,
            "parent_correlation_id_text": ID_NULL,
            "replay_batch_id_text": ID_NULL,
            "batch_id_text": ID_NULL,
            "input_hash_text": col("string", True, 80),
            "output_hash_text": col("string", True, 80),
            "storage_key": col("string", True, 1024),
            "error_info": JSON_NULL,
            "metadata": JSON_NULL,
        },
        primary_key=("id",),
        indexes=frozenset(
            {
                ("correlation_id",),
                ("parent_correlation_id",),
                ("started_at", "stage_key"),
                ("completed_at", "id"),
                ("replay_batch_id",),
                ("batch_id",),
            }
        ),
    ),
    "pipeline_lineage_stages": TableShape(
        columns={
            "stage_key": col("integer", False),
            "execution_id": ID,
            "route_id": col("string", False, 64),
            "adapter_name": col("string", False, 64),
            "adapter_index": col("integer", False),
            "stage_name": col("string", False, 128),
            "row_count": col("integer", False),
            "pending_count": col("integer", False),
            "processing_count": col("integer", False),
            "completed_count": col("integer", False),
            "failed_count": col("integer", False),
            "skipped_count": col("integer", False),
            "cancelled_count": col("integer", False),
            "duration_total_ms": col("float", False),
            "duration_count": col("integer", False),
            "duration_max_ms": col("float", True),
            "first_started_at": TIME_NULL,
            "last_started_at": TIME_NULL,
        },
        primary_key=("stage_key",),
        unique=frozenset({("execution_id", "route_id", "adapter_index", "adapter_name", "stage_name")}),
    ),
    "pipeline_lineage_buckets": TableShape(
        columns={
            "stage_key": col("integer", False),
            "bucket": col("integer", False),
            "row_count": col("integer", False),
        },
        primary_key=("stage_key", "bucket"),
    ),
    "pipeline_lineage_routes": TableShape(
        columns={
            "route_key": col("integer", False),
            "execution_id": ID,
            "route_id": col("string", False, 64),
            "message_count": col("integer", False),
            "failed_messages": col("integer", False),
            "in_progress_messages": col("integer", False),
            "cancelled_messages": col("integer", False),
        },
        primary_key=("route_key",),
        unique=frozenset({("execution_id", "route_id")}),
    ),
    "pipeline_lineage_messages": TableShape(
        columns={
            "route_key": col("integer", False),
            "correlation_id": UUID,
            "row_count": col("integer", False),
            "failed_count": col("integer", False),
            "active_count": col("integer", False),
            "cancelled_count": col("integer", False),
        },
        primary_key=("route_key", "correlation_id"),
    ),
    "route_pause_state": TableShape(
        columns={
            "route_id": col("string", False, 64),
            "paused": col("boolean", False),
            "paused_at": TIME_NULL,
            "reason": col("string", True, 500),
        },
        primary_key=("route_id",),
    ),
}


async def test_migrations_create_exactly_the_documented_schema(db_engine: AsyncEngine) -> None:
    async with db_engine.connect() as connection:
        shapes = await connection.run_sync(reflect_shapes)
    assert sorted(shapes) == sorted(SCHEMA_DOC)
    for table, expected in SCHEMA_DOC.items():
        actual = shapes[table]
        assert actual.columns == expected.columns, table
        assert list(actual.columns) == list(expected.columns), f"{table}: column order"
        assert actual.primary_key == expected.primary_key, table
        assert actual.indexes == expected.indexes, table
        assert actual.unique == expected.unique, table


async def test_postgres_uses_timestamptz_and_jsonb(db_engine: AsyncEngine) -> None:
    async with db_engine.connect() as connection:
        if connection.dialect.name != "postgresql":
            assert connection.dialect.name == "sqlite"
            return
        columns = await connection.run_sync(lambda sync: inspect(sync).get_columns("pipeline_executions"))
    types = {column["name"]: column["type"] for column in columns}
    assert getattr(types["started_at"], "timezone", False) is True
    assert type(types["metadata"]).__name__ == "JSONB"
    # The snapshot keeps key order (the routes' declaration order), which JSONB would sort.
    assert type(types["config_snapshot"]).__name__ == "JSON"


async def test_config_snapshot_keeps_route_declaration_order(db_engine: AsyncEngine) -> None:
    snapshot = '{"config": {"routes": {"zeta": {}, "alpha": {}, "mid": {}}}}'
    async with db_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO pipeline_executions (id, config_id, config_name, config_version, status, source,"
                " started_at, config_snapshot, metadata, cancel_requested, recovery_count, updated_at)"
                " VALUES ('e1', 'c1', 'n', 1, 'running', 'api', CURRENT_TIMESTAMP, :snapshot, '{}', false, 0,"
                " CURRENT_TIMESTAMP)"
            ),
            {"snapshot": snapshot},
        )
        stored = (await connection.execute(text("SELECT config_snapshot FROM pipeline_executions"))).scalar_one()
    routes = (json.loads(stored) if isinstance(stored, str) else stored)["config"]["routes"]
    assert list(routes) == ["zeta", "alpha", "mid"]


async def test_server_defaults_fill_documented_defaults(db_engine: AsyncEngine) -> None:
    async with db_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO pipeline_configs (id, name, config_yaml, config_hash, version, source_type, created_at,"
                " updated_at) VALUES ('c1', 'n', 'y', 'sha256:0', 1, 'api', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        row = (await connection.execute(text("SELECT is_active FROM pipeline_configs"))).one()
    assert row.is_active in (True, 1)


async def test_run_migrations_is_idempotent(db_engine: AsyncEngine) -> None:
    head = head_revision()
    assert await current_revision(db_engine) == head
    assert await run_migrations(db_engine) == head
    assert await run_migrations(db_engine) == head
    assert await current_revision(db_engine) == head


async def test_run_migrations_accepts_a_url(database_url: str) -> None:
    assert await run_migrations(database_url) == head_revision()
    assert await run_migrations(database_url) == head_revision()
    engine = create_database_engine(database_url)
    try:
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
