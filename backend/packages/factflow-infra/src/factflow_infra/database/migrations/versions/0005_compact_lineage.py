"""The compact lineage layout, and per-stage counters maintained by the database.

`pipeline_lineage` was about 1,056 bytes per row at a million rows (text UUIDs, `sha256:<hex>`
text hashes, a stored storage key, JSON metadata on every row, nine indexes). Now:

- Ids are native `uuid` (PostgreSQL) and hashes raw `bytea`. A value that is not in that form
  (an id that is no lowercase UUID, a hash that is not `sha256:<64 hex>`) keeps its text in a
  `*_text` column beside a stand-in (`md5('factflow-lineage:' || text)` as a UUID), so every row
  reads back exactly as it was written.
- Execution, route, adapter and stage names live once per execution × stage in
  `pipeline_lineage_stages`; a row references them by `stage_key`.
- The storage key is derived on read when it is the stage's output or fan-out manifest key
  (the low two bits of `outcome`: 1 or 2); any other key stays in `storage_key` (3).
- `attempts` and `emitted_count` (integers below 10,000) leave `metadata` for `smallint` columns,
  `result` for the bits of `outcome` above the storage kind; `metadata` holds what is left, or NULL.
- `delivery_count` is a `smallint`.
- `stage_status` is a `smallint` (pending 0, processing 1, completed 2, failed 3, skipped 4,
  cancelled 5).
- Indexes: the primary key, `correlation_id`, `parent_correlation_id`,
  `(started_at, stage_key)` (time order within and across executions, read without the heap),
  and partial ones for failures (in their list's order) and the two batch ids.

`pipeline_lineage_stages` also holds each stage's row counts per status, completed durations and
first/last `started_at`, kept exact by triggers on `pipeline_lineage` (statement-level with
transition tables on PostgreSQL, row-level on SQLite) through every insert, update and delete,
so lineage stats read a few counter rows instead of aggregating an execution's rows. Rows must
name an existing stage row (SQLSTATE `FF001` on PostgreSQL otherwise): a writer that cached the
key of a stage deleted meanwhile looks its keys up again instead of writing invisible rows.

Existing rows are converted (SQL on PostgreSQL, in batches in Python on SQLite); the downgrade
converts them back.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Final

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD: Final = "pipeline_lineage_v4"
_NEW: Final = "pipeline_lineage_v5"
_BATCH: Final = 5000

STATUSES: Final = ("pending", "processing", "completed", "failed", "skipped", "cancelled")
RESULTS: Final = (None, "message", "emitted", "both", "none")
STAND_IN_PREFIX: Final = "factflow-lineage:"
_UUID_RE: Final = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_HASH_RE: Final = "^sha256:[0-9a-f]{64}$"
_UUID_IDS: Final = ("id", "correlation_id", "parent_correlation_id", "replay_batch_id", "batch_id")
_COUNTERS: Final = tuple(f"{status}_count" for status in STATUSES)

TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


# ---------------------------------------------------------------------------------- tables


def _stages_table() -> None:
    op.create_table(
        "pipeline_lineage_stages",
        sa.Column("stage_key", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(36), nullable=False),
        sa.Column("route_id", sa.String(64), nullable=False),
        sa.Column("adapter_name", sa.String(64), nullable=False),
        sa.Column("adapter_index", sa.Integer(), nullable=False),
        sa.Column("stage_name", sa.String(128), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        *(sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0")) for name in _COUNTERS),
        sa.Column("duration_total_ms", sa.Float(), nullable=False, server_default=sa.text("0")),
        sa.Column("duration_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("duration_max_ms", sa.Float(), nullable=True),
        sa.Column("first_started_at", TIME, nullable=True),
        sa.Column("last_started_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("stage_key", name="pk_pipeline_lineage_stages"),
        sa.UniqueConstraint(
            "execution_id",
            "route_id",
            "adapter_index",
            "adapter_name",
            "stage_name",
            name="uq_pipeline_lineage_stages_stage",
        ),
    )


def _compact_table(name: str) -> None:
    # Fixed-width columns first, 8-byte aligned ones leading, so PostgreSQL pads nothing.
    op.create_table(
        name,
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("stage_key", sa.Integer(), nullable=False),
        sa.Column("delivery_count", sa.SmallInteger(), nullable=False, server_default=sa.text("1")),
        sa.Column("emitted_count", sa.SmallInteger(), nullable=True),
        sa.Column("stage_status", sa.SmallInteger(), nullable=False),
        sa.Column("outcome", sa.SmallInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("attempts", sa.SmallInteger(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("correlation_id", sa.Uuid(), nullable=False),
        sa.Column("parent_correlation_id", sa.Uuid(), nullable=True),
        sa.Column("replay_batch_id", sa.Uuid(), nullable=True),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("input_hash", sa.LargeBinary(), nullable=True),
        sa.Column("output_hash", sa.LargeBinary(), nullable=True),
        *(sa.Column(f"{column}_text", sa.String(36), nullable=True) for column in _UUID_IDS),
        sa.Column("input_hash_text", sa.String(80), nullable=True),
        sa.Column("output_hash_text", sa.String(80), nullable=True),
        sa.Column("storage_key", sa.String(1024), nullable=True),
        sa.Column("error_info", JSON, nullable=True),
        sa.Column("metadata", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
    )


def _compact_indexes(dialect: str) -> None:
    table = "pipeline_lineage"
    op.create_index("ix_pipeline_lineage_correlation_id", table, ["correlation_id"])
    op.create_index("ix_pipeline_lineage_parent_correlation_id", table, ["parent_correlation_id"])
    op.create_index("ix_pipeline_lineage_started_at_stage_key", table, ["started_at", "stage_key"])
    # The failures list's order (newest first, NULLs last), so a page reads only its rows.
    # SQLite sorts NULLs last in DESC already and has no NULLS LAST in an index.
    nulls = " NULLS LAST" if dialect == "postgresql" else ""
    op.create_index(
        "ix_pipeline_lineage_failed",
        table,
        [sa.text(f"completed_at DESC{nulls}"), sa.text("id DESC")],
        postgresql_where=sa.text("stage_status = 3"),
        sqlite_where=sa.text("stage_status = 3"),
    )
    for column in ("replay_batch_id", "batch_id"):
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(f"ix_pipeline_lineage_{column}", table, [column], postgresql_where=where, sqlite_where=where)


def _old_table(name: str) -> None:
    id_type = sa.String(36)
    op.create_table(
        name,
        sa.Column("id", id_type, nullable=False),
        sa.Column("correlation_id", id_type, nullable=False),
        sa.Column("parent_correlation_id", id_type, nullable=True),
        sa.Column("execution_id", id_type, nullable=False),
        sa.Column("route_id", sa.String(64), nullable=False),
        sa.Column("adapter_name", sa.String(64), nullable=False),
        sa.Column("adapter_index", sa.Integer(), nullable=False),
        sa.Column("stage_name", sa.String(128), nullable=False),
        sa.Column("stage_status", sa.String(16), nullable=False),
        sa.Column("input_hash", sa.String(80), nullable=True),
        sa.Column("output_hash", sa.String(80), nullable=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("error_info", JSON, nullable=True),
        sa.Column("replay_batch_id", id_type, nullable=True),
        sa.Column("batch_id", id_type, nullable=True),
        sa.Column("delivery_count", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("storage_key", sa.String(1024), nullable=True),
        sa.Column("metadata", JSON, nullable=False, server_default=sa.text("'{}'")),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
    )


_OLD_INDEXES: Final = (
    ("ix_pipeline_lineage_correlation_id", ("correlation_id",)),
    ("ix_pipeline_lineage_parent_correlation_id", ("parent_correlation_id",)),
    ("ix_pipeline_lineage_execution_id_started_at", ("execution_id", "started_at")),
    ("ix_pipeline_lineage_execution_id_stage_status", ("execution_id", "stage_status")),
    ("ix_pipeline_lineage_replay_batch_id", ("replay_batch_id",)),
    ("ix_pipeline_lineage_batch_id", ("batch_id",)),
    ("ix_pipeline_lineage_started_at_id", ("started_at", "id")),
    ("ix_pipeline_lineage_stage_status_completed_at_id", ("stage_status", "completed_at", "id")),
)


# ---------------------------------------------------------------------------------- counters

_DELTA_SET: Final = ", ".join(
    [
        "row_count = s.row_count + d.row_count",
        *(f"{name} = s.{name} + d.{name}" for name in _COUNTERS),
        "duration_total_ms = s.duration_total_ms + d.duration_total_ms",
        "duration_count = s.duration_count + d.duration_count",
        "duration_max_ms = greatest(s.duration_max_ms, d.duration_max_ms)",
        "first_started_at = least(s.first_started_at, d.first_started_at)",
        "last_started_at = greatest(s.last_started_at, d.last_started_at)",
    ]
)
_DELTA_SELECT: Final = ", ".join(
    [
        "stage_key",
        "sum(sign) AS row_count",
        *(
            f"sum(CASE WHEN stage_status = {code} THEN sign ELSE 0 END) AS {name}"
            for code, name in enumerate(_COUNTERS)
        ),
        "sum(CASE WHEN stage_status = 2 AND duration_ms IS NOT NULL THEN sign * duration_ms ELSE 0 END)"
        " AS duration_total_ms",
        "sum(CASE WHEN stage_status = 2 AND duration_ms IS NOT NULL THEN sign ELSE 0 END) AS duration_count",
        "max(CASE WHEN sign = 1 AND stage_status = 2 THEN duration_ms END) AS duration_max_ms",
        "min(CASE WHEN sign = 1 THEN started_at END) AS first_started_at",
        "max(CASE WHEN sign = 1 THEN started_at END) AS last_started_at",
    ]
)
_CHANGED: Final = {
    "INSERT": "SELECT stage_key, 1 AS sign, stage_status, duration_ms, started_at FROM new_rows",
    "UPDATE": "SELECT stage_key, 1 AS sign, stage_status, duration_ms, started_at FROM new_rows"
    " UNION ALL SELECT stage_key, -1, stage_status, duration_ms, started_at FROM old_rows",
    "DELETE": "SELECT stage_key, -1 AS sign, stage_status, duration_ms, started_at FROM old_rows",
}
_TRANSITIONS: Final = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}


MISSING_STAGE_SQLSTATE: Final = "FF001"
"""Raised when written rows name a stage row that does not exist (deleted while a writer still held its key)."""
MISSING_STAGE_MESSAGE: Final = "lineage rows name a stage row that does not exist"


def _postgres_triggers() -> None:
    # One statement-level trigger per event: one UPDATE per touched stage per statement (the
    # recorder writes a batch in one statement), not one per row. Written rows must name existing
    # stage rows: a writer holding the key of a stage deleted meanwhile gets an error, forgets its
    # keys and writes again (rows without their stage would be invisible and never deleted).
    for event, changed in _CHANGED.items():
        name = f"pipeline_lineage_count_{event.lower()}"
        delta = f"SELECT {_DELTA_SELECT} FROM ({changed}) AS changed GROUP BY stage_key"
        update = f"UPDATE pipeline_lineage_stages AS s SET {_DELTA_SET} FROM d WHERE s.stage_key = d.stage_key"
        if event == "DELETE":
            body = f"WITH d AS ({delta}) {update};"
        else:
            body = (
                f"WITH d AS ({delta}), u AS ({update} RETURNING 1)"
                " SELECT (SELECT count(*) FROM d) - (SELECT count(*) FROM u) INTO missing;"
                f" IF missing > 0 THEN RAISE EXCEPTION '{MISSING_STAGE_MESSAGE}'"
                f" USING ERRCODE = '{MISSING_STAGE_SQLSTATE}'; END IF;"
            )
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE missing bigint; BEGIN"
            f" {body} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON pipeline_lineage {_TRANSITIONS[event]}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


def _sqlite_add(row: str) -> str:
    completed = f"{row}.stage_status = 2 AND {row}.duration_ms IS NOT NULL"
    return ", ".join(
        [
            "row_count = row_count + 1",
            *(f"{name} = {name} + ({row}.stage_status = {code})" for code, name in enumerate(_COUNTERS)),
            f"duration_total_ms = duration_total_ms + CASE WHEN {completed} THEN {row}.duration_ms ELSE 0 END",
            f"duration_count = duration_count + ({completed})",
            f"duration_max_ms = CASE WHEN {completed} AND (duration_max_ms IS NULL OR {row}.duration_ms >"
            f" duration_max_ms) THEN {row}.duration_ms ELSE duration_max_ms END",
            f"first_started_at = CASE WHEN first_started_at IS NULL OR {row}.started_at < first_started_at"
            f" THEN {row}.started_at ELSE first_started_at END",
            f"last_started_at = CASE WHEN last_started_at IS NULL OR {row}.started_at > last_started_at"
            f" THEN {row}.started_at ELSE last_started_at END",
        ]
    )


def _sqlite_remove(row: str) -> str:
    completed = f"{row}.stage_status = 2 AND {row}.duration_ms IS NOT NULL"
    return ", ".join(
        [
            "row_count = row_count - 1",
            *(f"{name} = {name} - ({row}.stage_status = {code})" for code, name in enumerate(_COUNTERS)),
            f"duration_total_ms = duration_total_ms - CASE WHEN {completed} THEN {row}.duration_ms ELSE 0 END",
            f"duration_count = duration_count - ({completed})",
        ]
    )


def _sqlite_triggers() -> None:
    def update(row: str, assignments: str) -> str:
        return f"UPDATE pipeline_lineage_stages SET {assignments} WHERE stage_key = {row}.stage_key;"

    bodies = {
        "insert": update("NEW", _sqlite_add("NEW")),
        "update": update("OLD", _sqlite_remove("OLD")) + " " + update("NEW", _sqlite_add("NEW")),
        "delete": update("OLD", _sqlite_remove("OLD")),
    }
    for event, body in bodies.items():
        op.execute(
            f"CREATE TRIGGER pipeline_lineage_count_{event} AFTER {event.upper()} ON pipeline_lineage"
            f" FOR EACH ROW BEGIN {body} END"
        )
    for event in ("insert", "update"):
        op.execute(
            f"CREATE TRIGGER pipeline_lineage_stage_exists_{event} BEFORE {event.upper()} ON pipeline_lineage"
            " FOR EACH ROW WHEN NOT EXISTS"
            " (SELECT 1 FROM pipeline_lineage_stages WHERE stage_key = NEW.stage_key)"
            f" BEGIN SELECT RAISE(ABORT, '{MISSING_STAGE_MESSAGE}'); END"
        )


def _drop_triggers(dialect: str) -> None:
    for event in ("insert", "update", "delete"):
        name = f"pipeline_lineage_count_{event}"
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON pipeline_lineage")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if dialect != "postgresql":
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS pipeline_lineage_stage_exists_{event}")


_FILL_STAGES: Final = f"""
INSERT INTO pipeline_lineage_stages (execution_id, route_id, adapter_name, adapter_index, stage_name)
SELECT DISTINCT execution_id, route_id, adapter_name, adapter_index, stage_name FROM {_OLD}
"""

_COUNT_STAGES: Final = (
    "UPDATE pipeline_lineage_stages SET "
    + ", ".join(f"{name} = d.{name}" for name in ("row_count", *_COUNTERS, "duration_total_ms", "duration_count"))
    + ", duration_max_ms = d.duration_max_ms, first_started_at = d.first_started_at, last_started_at = d.last_started_at"
    " FROM (SELECT stage_key, count(*) AS row_count, "
    + ", ".join(f"sum(CASE WHEN stage_status = {code} THEN 1 ELSE 0 END) AS {name}" for code, name in enumerate(_COUNTERS))
    + ", coalesce(sum(CASE WHEN stage_status = 2 THEN duration_ms END), 0) AS duration_total_ms"
    ", count(CASE WHEN stage_status = 2 THEN duration_ms END) AS duration_count"
    ", max(CASE WHEN stage_status = 2 THEN duration_ms END) AS duration_max_ms"
    ", min(started_at) AS first_started_at, max(started_at) AS last_started_at"
    " FROM pipeline_lineage GROUP BY stage_key) AS d WHERE pipeline_lineage_stages.stage_key = d.stage_key"
)


# ---------------------------------------------------------------------------------- PostgreSQL conversion


def _pg_uuid(column: str) -> str:
    return f"CASE WHEN {column} ~ '{_UUID_RE}' THEN {column}::uuid ELSE md5('{STAND_IN_PREFIX}' || {column})::uuid END"


def _pg_uuid_text(column: str) -> str:
    return f"CASE WHEN {column} !~ '{_UUID_RE}' THEN {column} END"


def _pg_small_int(key: str, digits: int) -> str:
    value = f"o.metadata -> '{key}'"
    return f"CASE WHEN jsonb_typeof({value}) = 'number' AND ({value})::text ~ '^[0-9]{{1,{digits}}}$' THEN ({value})::text::int END"


_PG_RESULT: Final = (
    "CASE WHEN jsonb_typeof(o.metadata -> 'result') = 'string' THEN CASE o.metadata ->> 'result' "
    + " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(RESULTS) if name)
    + " END END"
)
_PG_OUTPUT_KEY: Final = "'executions/' || o.execution_id || '/' || o.route_id || '/' || o.stage_name || '/' || o.correlation_id"
_PG_UPGRADE: Final = f"""
INSERT INTO {_NEW} (
    started_at, completed_at, duration_ms, stage_key, delivery_count, emitted_count, stage_status, outcome,
    attempts, id, correlation_id, parent_correlation_id, replay_batch_id, batch_id, input_hash, output_hash,
    id_text, correlation_id_text, parent_correlation_id_text, replay_batch_id_text, batch_id_text,
    input_hash_text, output_hash_text, storage_key, error_info, metadata)
SELECT
    o.started_at, o.completed_at, o.duration_ms, k.stage_key, o.delivery_count, m.emitted_count,
    CASE o.stage_status {" ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(STATUSES))} END,
    d.storage_kind + 4 * coalesce(m.result, 0), m.attempts,
    {", ".join(_pg_uuid(f"o.{column}") for column in _UUID_IDS)},
    CASE WHEN o.input_hash ~ '{_HASH_RE}' THEN decode(substr(o.input_hash, 8), 'hex') END,
    CASE WHEN o.output_hash ~ '{_HASH_RE}' THEN decode(substr(o.output_hash, 8), 'hex') END,
    {", ".join(_pg_uuid_text(f"o.{column}") for column in _UUID_IDS)},
    CASE WHEN o.input_hash !~ '{_HASH_RE}' THEN o.input_hash END,
    CASE WHEN o.output_hash !~ '{_HASH_RE}' THEN o.output_hash END,
    CASE WHEN d.storage_kind = 3 THEN o.storage_key END,
    o.error_info,
    nullif(o.metadata - array_remove(ARRAY[
        CASE WHEN m.attempts IS NOT NULL THEN 'attempts' END,
        CASE WHEN m.result IS NOT NULL THEN 'result' END,
        CASE WHEN m.emitted_count IS NOT NULL THEN 'emitted_count' END], NULL), '{{}}'::jsonb)
FROM {_OLD} AS o
JOIN pipeline_lineage_stages AS k
    ON k.execution_id = o.execution_id AND k.route_id = o.route_id AND k.adapter_name = o.adapter_name
    AND k.adapter_index = o.adapter_index AND k.stage_name = o.stage_name
CROSS JOIN LATERAL (SELECT
    {_pg_small_int("attempts", 4)} AS attempts,
    {_PG_RESULT} AS result,
    {_pg_small_int("emitted_count", 4)} AS emitted_count) AS m
CROSS JOIN LATERAL (SELECT CASE
    WHEN o.storage_key IS NULL THEN 0
    WHEN o.storage_key = {_PG_OUTPUT_KEY} || '.json' THEN 1
    WHEN o.storage_key = {_PG_OUTPUT_KEY} || '.fanout.json' THEN 2
    ELSE 3 END AS storage_kind) AS d
"""


def _pg_text(column: str) -> str:
    return f"coalesce(n.{column}_text, n.{column}::text)"


_PG_NEW_OUTPUT_KEY: Final = (
    f"'executions/' || k.execution_id || '/' || k.route_id || '/' || k.stage_name || '/' || {_pg_text('correlation_id')}"
)
_PG_DOWNGRADE: Final = f"""
INSERT INTO {_OLD} (
    id, correlation_id, parent_correlation_id, execution_id, route_id, adapter_name, adapter_index, stage_name,
    stage_status, input_hash, output_hash, started_at, completed_at, duration_ms, error_info, replay_batch_id,
    batch_id, delivery_count, storage_key, metadata)
SELECT
    {_pg_text("id")}, {_pg_text("correlation_id")}, {_pg_text("parent_correlation_id")},
    k.execution_id, k.route_id, k.adapter_name, k.adapter_index, k.stage_name,
    (ARRAY[{", ".join(f"'{name}'" for name in STATUSES)}])[n.stage_status + 1],
    coalesce(n.input_hash_text, 'sha256:' || encode(n.input_hash, 'hex')),
    coalesce(n.output_hash_text, 'sha256:' || encode(n.output_hash, 'hex')),
    n.started_at, n.completed_at, n.duration_ms, n.error_info,
    {_pg_text("replay_batch_id")}, {_pg_text("batch_id")}, n.delivery_count,
    CASE n.outcome & 3 WHEN 1 THEN {_PG_NEW_OUTPUT_KEY} || '.json' WHEN 2 THEN {_PG_NEW_OUTPUT_KEY} || '.fanout.json'
         ELSE n.storage_key END,
    coalesce(n.metadata, '{{}}'::jsonb) || jsonb_strip_nulls(jsonb_build_object(
        'attempts', n.attempts,
        'result', (ARRAY[{", ".join(f"'{name}'" for name in RESULTS if name)}])[n.outcome >> 2],
        'emitted_count', n.emitted_count))
FROM pipeline_lineage AS n JOIN pipeline_lineage_stages AS k ON k.stage_key = n.stage_key
"""


# ---------------------------------------------------------------------------------- SQLite conversion


def _stand_in(value: str) -> uuid.UUID:
    return uuid.UUID(bytes=hashlib.md5((STAND_IN_PREFIX + value).encode(), usedforsecurity=False).digest())


def _split_id(value: str | None) -> tuple[uuid.UUID | None, str | None]:
    if value is None:
        return None, None
    if re.match(_UUID_RE, value):
        return uuid.UUID(value), None
    return _stand_in(value), value


def _split_hash(value: str | None) -> tuple[bytes | None, str | None]:
    if value is None:
        return None, None
    if re.match(_HASH_RE, value):
        return bytes.fromhex(value[7:]), None
    return None, value


def _small(value: Any, limit: int) -> int | None:
    return value if type(value) is int and 0 <= value < limit else None


def _sqlite_rows(connection: sa.Connection, old: sa.Table) -> Iterator[list[dict[str, Any]]]:
    last: str | None = None
    while True:
        query = sa.select(old).order_by(old.c.id).limit(_BATCH)
        if last is not None:
            query = query.where(old.c.id > last)
        rows = [dict(row._mapping) for row in connection.execute(query)]
        if not rows:
            return
        last = rows[-1]["id"]
        yield rows


def _encode_old(row: dict[str, Any], stage_key: int) -> dict[str, Any]:
    metadata = dict(row["metadata"] or {})
    attempts = _small(metadata.get("attempts"), 10_000)
    result_name = metadata.get("result")
    result = RESULTS.index(result_name) if isinstance(result_name, str) and result_name in RESULTS else None
    emitted = _small(metadata.get("emitted_count"), 10_000)
    for key, value in (("attempts", attempts), ("result", result), ("emitted_count", emitted)):
        if value is not None:
            del metadata[key]
    prefix = f"executions/{row['execution_id']}/{row['route_id']}/{row['stage_name']}/{row['correlation_id']}"
    key = row["storage_key"]
    kind = 0 if key is None else 1 if key == f"{prefix}.json" else 2 if key == f"{prefix}.fanout.json" else 3
    values: dict[str, Any] = {
        "started_at": row["started_at"],
        "completed_at": row["completed_at"],
        "duration_ms": row["duration_ms"],
        "stage_key": stage_key,
        "delivery_count": row["delivery_count"],
        "emitted_count": emitted,
        "stage_status": STATUSES.index(row["stage_status"]),
        "outcome": kind + 4 * (result or 0),
        "attempts": attempts,
        "storage_key": key if kind == 3 else None,
        "error_info": row["error_info"],
        "metadata": metadata or None,
    }
    for column in _UUID_IDS:
        values[column], values[f"{column}_text"] = _split_id(row[column])
    for column in ("input_hash", "output_hash"):
        values[column], values[f"{column}_text"] = _split_hash(row[column])
    return values


def _decode_new(row: dict[str, Any], stage: dict[str, Any]) -> dict[str, Any]:
    def text(column: str) -> str | None:
        fallback, value = row[f"{column}_text"], row[column]
        return fallback if fallback is not None else (None if value is None else str(value))

    def digest(column: str) -> str | None:
        fallback, value = row[f"{column}_text"], row[column]
        return fallback if fallback is not None else (None if value is None else "sha256:" + bytes(value).hex())

    correlation_id = text("correlation_id")
    prefix = f"executions/{stage['execution_id']}/{stage['route_id']}/{stage['stage_name']}/{correlation_id}"
    kind, result = row["outcome"] & 3, row["outcome"] >> 2
    metadata = dict(row["metadata"] or {})
    if row["attempts"] is not None:
        metadata["attempts"] = row["attempts"]
    if result:
        metadata["result"] = RESULTS[result]
    if row["emitted_count"] is not None:
        metadata["emitted_count"] = row["emitted_count"]
    return {
        "id": text("id"),
        "correlation_id": correlation_id,
        "parent_correlation_id": text("parent_correlation_id"),
        **{name: stage[name] for name in ("execution_id", "route_id", "adapter_name", "adapter_index", "stage_name")},
        "stage_status": STATUSES[row["stage_status"]],
        "input_hash": digest("input_hash"),
        "output_hash": digest("output_hash"),
        "started_at": row["started_at"],
        "completed_at": row["completed_at"],
        "duration_ms": row["duration_ms"],
        "error_info": row["error_info"],
        "replay_batch_id": text("replay_batch_id"),
        "batch_id": text("batch_id"),
        "delivery_count": row["delivery_count"],
        "storage_key": f"{prefix}.json" if kind == 1 else f"{prefix}.fanout.json" if kind == 2 else row["storage_key"],
        "metadata": metadata,
    }


def _reflected(connection: sa.Connection, name: str) -> sa.Table:
    table = sa.Table(name, sa.MetaData(), autoload_with=connection)
    # Reflection on SQLite knows neither JSON nor UUID columns by their stored form: say what they are.
    for column in table.c:
        if column.name in ("metadata", "error_info"):
            column.type = sa.JSON(none_as_null=True)
        elif column.name in _UUID_IDS and name != _OLD:
            column.type = sa.Uuid()
        elif column.name in ("started_at", "completed_at"):
            column.type = sa.DateTime()
    return table


def _sqlite_upgrade(connection: sa.Connection) -> None:
    old, new = _reflected(connection, _OLD), _reflected(connection, _NEW)
    stages = _reflected(connection, "pipeline_lineage_stages")
    keys = {
        (row.execution_id, row.route_id, row.adapter_name, row.adapter_index, row.stage_name): row.stage_key
        for row in connection.execute(sa.select(stages))
    }
    for rows in _sqlite_rows(connection, old):
        values = [
            _encode_old(
                row,
                keys[(row["execution_id"], row["route_id"], row["adapter_name"], row["adapter_index"], row["stage_name"])],
            )
            for row in rows
        ]
        connection.execute(new.insert(), values)


def _sqlite_downgrade(connection: sa.Connection) -> None:
    new, old = _reflected(connection, "pipeline_lineage"), _reflected(connection, _OLD)
    stages = {row.stage_key: dict(row._mapping) for row in connection.execute(sa.select(_reflected(connection, "pipeline_lineage_stages")))}
    last: Any = None
    while True:
        query = sa.select(new).order_by(new.c.id).limit(_BATCH)
        if last is not None:
            query = query.where(new.c.id > last)
        rows = [dict(row._mapping) for row in connection.execute(query)]
        if not rows:
            return
        last = rows[-1]["id"]
        connection.execute(old.insert(), [_decode_new(row, stages[row["stage_key"]]) for row in rows])


# ---------------------------------------------------------------------------------- steps


def upgrade() -> None:
    connection = op.get_bind()
    dialect = connection.dialect.name
    for index, _ in _OLD_INDEXES:
        op.drop_index(index, table_name="pipeline_lineage")
    op.rename_table("pipeline_lineage", _OLD)
    _stages_table()
    op.execute(_FILL_STAGES)
    _compact_table(_NEW)
    if dialect == "postgresql":
        op.execute(_PG_UPGRADE)
    else:
        _sqlite_upgrade(connection)
    op.drop_table(_OLD)
    if dialect == "postgresql":
        op.execute(f"ALTER TABLE {_NEW} RENAME CONSTRAINT pk_{_NEW} TO pk_pipeline_lineage")
        op.rename_table(_NEW, "pipeline_lineage")
    else:
        # SQLite cannot rename a constraint: rebuild the table under its final name.
        _compact_table("pipeline_lineage")
        op.execute(f"INSERT INTO pipeline_lineage SELECT * FROM {_NEW}")
        op.drop_table(_NEW)
    _compact_indexes(dialect)
    op.execute(_COUNT_STAGES)
    if dialect == "postgresql":
        _postgres_triggers()
        op.execute("ANALYZE pipeline_lineage")
        op.execute("ANALYZE pipeline_lineage_stages")
    else:
        _sqlite_triggers()


def downgrade() -> None:
    connection = op.get_bind()
    dialect = connection.dialect.name
    _drop_triggers(dialect)
    _old_table(_OLD)
    if dialect == "postgresql":
        op.execute(_PG_DOWNGRADE)
    else:
        _sqlite_downgrade(connection)
    op.drop_table("pipeline_lineage")
    op.drop_table("pipeline_lineage_stages")
    if dialect == "postgresql":
        op.execute(f"ALTER TABLE {_OLD} RENAME CONSTRAINT pk_{_OLD} TO pk_pipeline_lineage")
        op.rename_table(_OLD, "pipeline_lineage")
    else:
        _old_table("pipeline_lineage")
        op.execute(f"INSERT INTO pipeline_lineage SELECT * FROM {_OLD}")
        op.drop_table(_OLD)
    for index, columns in _OLD_INDEXES:
        op.create_index(index, "pipeline_lineage", list(columns))
