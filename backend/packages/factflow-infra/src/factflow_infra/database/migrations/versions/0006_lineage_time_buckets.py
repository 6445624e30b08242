"""Per-stage row counts by 10-second span of `started_at` (`pipeline_lineage_buckets`).

A page far into an execution's lineage by `started_at` (`offset=500000`) had to step over every
row before it on the time index. With rows counted per stage and 10-second span, the page's span
is found by summing a few counters, and only the rows of that span before the page are skipped.

The counts are kept exact by triggers on `pipeline_lineage` (statement-level with transition
tables on PostgreSQL, row-level on SQLite) through every insert, update and delete, as the stage
counters are; a span's row is deleted when its count reaches 0. Existing rows are counted by the
upgrade.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUCKET_SECONDS: Final = 10
"""Width of one span; the lineage repository reads the same constant (`LINEAGE_BUCKET_SECONDS`)."""

_TABLE: Final = "pipeline_lineage_buckets"
_EVENTS: Final = ("insert", "update", "delete")


def _pg_bucket(row: str) -> str:
    return f"floor(extract(epoch FROM {row}.started_at) / {BUCKET_SECONDS})::bigint"


def _sqlite_bucket(row: str) -> str:
    # The stored text is `YYYY-MM-DD HH:MM:SS.ffffff` (UTC); SQLite would round the fraction to
    # milliseconds (09.9999995 → 10.000), so whole seconds only.
    return f"CAST(strftime('%s', substr({row}.started_at, 1, 19)) AS INTEGER) / {BUCKET_SECONDS}"


# ---------------------------------------------------------------------------------- PostgreSQL

_PG_CHANGED: Final = {
    "insert": f"SELECT stage_key, {_pg_bucket('n')} AS bucket, 1 AS sign FROM new_rows AS n",
    "update": f"SELECT stage_key, {_pg_bucket('n')} AS bucket, 1 AS sign FROM new_rows AS n"
    f" UNION ALL SELECT stage_key, {_pg_bucket('o')}, -1 FROM old_rows AS o",
    "delete": f"SELECT stage_key, {_pg_bucket('o')} AS bucket, -1 AS sign FROM old_rows AS o",
}
_PG_TRANSITIONS: Final = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}


def _postgres_triggers() -> None:
    for event, changed in _PG_CHANGED.items():
        name = f"pipeline_lineage_bucket_{event}"
        # In key order, so concurrent writers lock span rows in the same order.
        upsert = (
            f"INSERT INTO {_TABLE} AS b (stage_key, bucket, row_count)"
            f" SELECT stage_key, bucket, sum(sign) FROM ({changed}) AS changed"
            " GROUP BY stage_key, bucket HAVING sum(sign) <> 0 ORDER BY stage_key, bucket"
            " ON CONFLICT (stage_key, bucket) DO UPDATE SET row_count = b.row_count + excluded.row_count;"
        )
        emptied = ""
        if event != "insert":
            emptied = (
                f" DELETE FROM {_TABLE} WHERE row_count = 0"
                " AND stage_key IN (SELECT DISTINCT stage_key FROM old_rows);"
            )
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" {upsert}{emptied} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event.upper()} ON pipeline_lineage {_PG_TRANSITIONS[event]}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


# ---------------------------------------------------------------------------------- SQLite


def _sqlite_add(row: str) -> str:
    return (
        f"INSERT INTO {_TABLE} (stage_key, bucket, row_count) VALUES ({row}.stage_key, {_sqlite_bucket(row)}, 1)"
        " ON CONFLICT (stage_key, bucket) DO UPDATE SET row_count = row_count + 1;"
    )


def _sqlite_remove(row: str) -> str:
    where = f"stage_key = {row}.stage_key AND bucket = {_sqlite_bucket(row)}"
    return (
        f"UPDATE {_TABLE} SET row_count = row_count - 1 WHERE {where};"
        f" DELETE FROM {_TABLE} WHERE {where} AND row_count = 0;"
    )


def _sqlite_triggers() -> None:
    bodies = {
        "insert": ("", _sqlite_add("NEW")),
        "update": (
            " WHEN OLD.stage_key IS NOT NEW.stage_key OR OLD.started_at IS NOT NEW.started_at",
            _sqlite_remove("OLD") + " " + _sqlite_add("NEW"),
        ),
        "delete": ("", _sqlite_remove("OLD")),
    }
    for event, (when, body) in bodies.items():
        op.execute(
            f"CREATE TRIGGER pipeline_lineage_bucket_{event} AFTER {event.upper()} ON pipeline_lineage"
            f" FOR EACH ROW{when} BEGIN {body} END"
        )


# ---------------------------------------------------------------------------------- steps


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        _TABLE,
        sa.Column("stage_key", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stage_key", "bucket", name=f"pk_{_TABLE}"),
    )
    bucket = _pg_bucket("pipeline_lineage") if dialect == "postgresql" else _sqlite_bucket("pipeline_lineage")
    op.execute(
        f"INSERT INTO {_TABLE} (stage_key, bucket, row_count)"
        f" SELECT stage_key, {bucket}, count(*) FROM pipeline_lineage GROUP BY 1, 2"
    )
    if dialect == "postgresql":
        _postgres_triggers()
        op.execute(f"ANALYZE {_TABLE}")
    else:
        _sqlite_triggers()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for event in _EVENTS:
        name = f"pipeline_lineage_bucket_{event}"
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON pipeline_lineage")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table(_TABLE)
