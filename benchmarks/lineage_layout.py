"""Bytes per `pipeline_lineage` row of candidate table layouts, on PostgreSQL.

`uv run --frozen python -m benchmarks.lineage_layout [--rows N] [--postgres-url URL]`

Each candidate table is created with its indexes in a scratch schema, then filled with the rows
the scale scenario seeds (`benchmarks/_scale.py`: messages x 2 stages in one execution, 1 % of
the messages failing in the second stage; random-looking UUIDs from `md5`) in one
`INSERT … SELECT generate_series`, vacuumed, and measured with `pg_total_relation_size` (heap,
TOAST and every index) divided by the row count. The schema is dropped afterwards.

The layouts:

- `today`: revision 0004 (text UUIDs, `sha256:<hex>` text hashes, stored storage keys, JSONB
  metadata, nine indexes).
- `compact`: native `uuid` ids, hashes as raw `bytea`, the storage key derived on read (a code
  says output/manifest/none; a nullable override for keys that cannot be derived), the common
  metadata keys (`attempts`, `result`, `emitted_count`) in small columns and `metadata` NULL when
  nothing else is left, `stage_status` a `smallint`, and only the indexes the queries use
  (partial ones for failures and the batch ids).
- `compact_aligned`: `compact` with the columns ordered by alignment (8-byte first, varlena last).
- `compact_hash`: `compact_aligned` with a hash index for `correlation_id` (equality only) and
  `started_at` alone instead of `(started_at, id)` (incremental sort does the tie-break).
- `compact_stages`: `compact_hash` with route/adapter/stage names and the execution moved to a
  small dictionary table (`int4` key per row), the `(execution_id, started_at)` index on the key.
- `compact_stages_btree`: `compact_stages` with `correlation_id` back on a B-tree (smaller).
- `stage_key_only`: `compact_stages_btree` with the execution's index on `stage_key` alone, which
  B-tree deduplication shrinks to a few bytes per row; an execution's rows in time order then come
  from the `started_at` index filtered by its stage keys (to be proven with EXPLAIN and the scale
  timings before it is chosen).
- `proposed`: `stage_key_only` as it would be built: the dictionary keeps `execution_id` as text,
  and nullable text columns hold the ids, hashes and storage keys that do not fit the compact
  columns (an id that is no UUID, a hash that is not `sha256:<64 hex>`; the compact column then
  holds a stand-in, a UUID derived from the text) — NULL, so free, on ordinary rows.
- `shipped`: revision 0005 as built (`.claude/database-schema.md`): `proposed` with the columns
  packed into 184 bytes (`delivery_count` and `emitted_count` as `smallint`, the storage kind and
  `metadata.result` sharing one `smallint`), counters in the stage table, and one index
  `(started_at, stage_key)` in place of `stage_key` and `started_at` alone.
- `lean`: `compact_stages_btree` without any index on `started_at` alone — the floor of these
  layouts, not a candidate: `GET /lineage` across executions would sort the whole table.

`--ordered-ids` seeds the rows as the product writes them: row and message ids rising with time
as UUIDv7 ids do (the product's row ids are UUIDv7), inserted in `started_at` order. The scale
scenario's seed (the default here) has random-looking `md5` ids and inserts all first-stage rows
before all second-stage ones, so its B-tree indexes on ids and on `started_at` split pages in the
middle and stay half empty.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from factflow_infra.database import SEARCH_PATH_OPTION

DEFAULT_ROWS: Final = 200_000
FAILED_EVERY: Final = 100

# The generator every candidate's INSERT selects from: the scale scenario's rows.
_SOURCE = """
SELECT
    {row_id} AS id,
    {message_id} AS correlation_id,
    CASE WHEN m.i = 0 THEN NULL ELSE {parent_id} END AS parent_correlation_id,
    md5('exec')::uuid AS execution_id,
    s.route_id, s.adapter_name, 0 AS adapter_index, s.stage_name,
    (s.stage = 1 AND m.i % {failed_every} = 7) AS failed,
    sha256(convert_to('in' || s.stage || ':' || m.i, 'UTF8')) AS input_hash,
    CASE WHEN s.stage = 1 AND m.i % {failed_every} = 7 THEN NULL
         ELSE sha256(convert_to('out' || s.stage || ':' || m.i, 'UTF8')) END AS output_hash,
    timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => m.i * 0.002 + s.stage * 0.001) AS started_at,
    timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => m.i * 0.002 + s.stage * 0.001 + 0.0005)
        AS completed_at,
    0.5 + (m.i % 7) * 0.25 AS duration_ms
FROM generate_series(0, {messages} - 1) AS m(i)
CROSS JOIN (VALUES (0, 'ingest', 'passthrough', 'fetch'), (1, 'enrich', 'set_fields', 'tag'))
    AS s(stage, route_id, adapter_name, stage_name)
{order}
"""

_ERROR = """'{"error_type": "AdapterError", "message": "boom", "traceback": null, "attempts": 3, "retryable": false}'"""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One layout: its DDL (table `lineage`) and the INSERT filling it from `src`."""

    name: str
    ddl: tuple[str, ...]
    fill: str


TODAY = Candidate(
    "today",
    (
        """CREATE TABLE lineage (
            id varchar(36) NOT NULL, correlation_id varchar(36) NOT NULL, parent_correlation_id varchar(36),
            execution_id varchar(36) NOT NULL, route_id varchar(64) NOT NULL, adapter_name varchar(64) NOT NULL,
            adapter_index integer NOT NULL, stage_name varchar(128) NOT NULL, stage_status varchar(16) NOT NULL,
            input_hash varchar(80), output_hash varchar(80), started_at timestamptz NOT NULL,
            completed_at timestamptz, duration_ms double precision, error_info jsonb,
            replay_batch_id varchar(36), batch_id varchar(36), delivery_count integer NOT NULL DEFAULT 1,
            storage_key varchar(1024), metadata jsonb NOT NULL DEFAULT '{}',
            CONSTRAINT pk_lineage PRIMARY KEY (id))""",
        "CREATE INDEX ix_correlation_id ON lineage (correlation_id)",
        "CREATE INDEX ix_parent_correlation_id ON lineage (parent_correlation_id)",
        "CREATE INDEX ix_execution_id_started_at ON lineage (execution_id, started_at)",
        "CREATE INDEX ix_execution_id_stage_status ON lineage (execution_id, stage_status)",
        "CREATE INDEX ix_replay_batch_id ON lineage (replay_batch_id)",
        "CREATE INDEX ix_batch_id ON lineage (batch_id)",
        "CREATE INDEX ix_started_at_id ON lineage (started_at, id)",
        "CREATE INDEX ix_stage_status_completed_at_id ON lineage (stage_status, completed_at, id)",
    ),
    f"""INSERT INTO lineage
        SELECT id::text, correlation_id::text, parent_correlation_id::text, execution_id::text, route_id,
            adapter_name, adapter_index, stage_name, CASE WHEN failed THEN 'failed' ELSE 'completed' END,
            'sha256:' || encode(input_hash, 'hex'), 'sha256:' || encode(output_hash, 'hex'),
            started_at, completed_at, duration_ms,
            CASE WHEN failed THEN {_ERROR}::jsonb END, NULL, NULL, 1,
            CASE WHEN failed THEN NULL ELSE 'executions/' || execution_id::text || '/' || route_id || '/'
                 || stage_name || '/' || correlation_id::text || '.json' END,
            CASE WHEN failed THEN '{{"attempts": 3, "dead_lettered": true}}'::jsonb
                 ELSE '{{"attempts": 1, "result": "message", "emitted_count": 0}}'::jsonb END
        FROM src""",
)

_COMPACT_COLUMNS = """
    id uuid NOT NULL, correlation_id uuid NOT NULL, parent_correlation_id uuid, execution_id uuid NOT NULL,
    route_id varchar(64) NOT NULL, adapter_name varchar(64) NOT NULL, adapter_index smallint NOT NULL,
    stage_name varchar(128) NOT NULL, stage_status smallint NOT NULL, input_hash bytea, output_hash bytea,
    started_at timestamptz NOT NULL, completed_at timestamptz, duration_ms double precision, error_info jsonb,
    replay_batch_id uuid, batch_id uuid, delivery_count smallint NOT NULL DEFAULT 1,
    storage_kind smallint NOT NULL, storage_key varchar(1024), attempts smallint, result smallint,
    emitted_count integer, metadata jsonb
"""
_ALIGNED_COLUMNS = """
    started_at timestamptz NOT NULL, completed_at timestamptz, duration_ms double precision,
    emitted_count integer,
    adapter_index smallint NOT NULL, stage_status smallint NOT NULL, delivery_count smallint NOT NULL DEFAULT 1,
    storage_kind smallint NOT NULL, attempts smallint, result smallint,
    id uuid NOT NULL, correlation_id uuid NOT NULL, execution_id uuid NOT NULL, parent_correlation_id uuid,
    replay_batch_id uuid, batch_id uuid,
    route_id varchar(64) NOT NULL, adapter_name varchar(64) NOT NULL, stage_name varchar(128) NOT NULL,
    input_hash bytea, output_hash bytea, storage_key varchar(1024), error_info jsonb, metadata jsonb
"""
_COMPACT_VALUES = f"""
    id, correlation_id, parent_correlation_id, execution_id, route_id, adapter_name, adapter_index, stage_name,
    CASE WHEN failed THEN 3 ELSE 2 END, input_hash, output_hash, started_at, completed_at, duration_ms,
    CASE WHEN failed THEN {_ERROR}::jsonb END, NULL, NULL, 1,
    CASE WHEN failed THEN 0 ELSE 1 END, NULL,
    CASE WHEN failed THEN 3 ELSE 1 END, CASE WHEN failed THEN NULL ELSE 1 END, CASE WHEN failed THEN NULL ELSE 0 END,
    CASE WHEN failed THEN '{{"dead_lettered": true}}'::jsonb END
"""
_COMPACT_NAMES = """
    id, correlation_id, parent_correlation_id, execution_id, route_id, adapter_name, adapter_index, stage_name,
    stage_status, input_hash, output_hash, started_at, completed_at, duration_ms, error_info, replay_batch_id,
    batch_id, delivery_count, storage_kind, storage_key, attempts, result, emitted_count, metadata
"""
_PARTIALS = (
    "CREATE INDEX ix_failed ON lineage (completed_at DESC, id DESC) WHERE stage_status = 3",
    "CREATE INDEX ix_replay_batch_id ON lineage (replay_batch_id) WHERE replay_batch_id IS NOT NULL",
    "CREATE INDEX ix_batch_id ON lineage (batch_id) WHERE batch_id IS NOT NULL",
)

COMPACT = Candidate(
    "compact",
    (
        f"CREATE TABLE lineage ({_COMPACT_COLUMNS}, CONSTRAINT pk_lineage PRIMARY KEY (id))",
        "CREATE INDEX ix_correlation_id ON lineage (correlation_id)",
        "CREATE INDEX ix_parent_correlation_id ON lineage (parent_correlation_id)",
        "CREATE INDEX ix_execution_id_started_at ON lineage (execution_id, started_at)",
        "CREATE INDEX ix_started_at_id ON lineage (started_at, id)",
        *_PARTIALS,
    ),
    f"INSERT INTO lineage ({_COMPACT_NAMES}) SELECT {_COMPACT_VALUES} FROM src",
)

COMPACT_ALIGNED = Candidate(
    "compact_aligned",
    (f"CREATE TABLE lineage ({_ALIGNED_COLUMNS}, CONSTRAINT pk_lineage PRIMARY KEY (id))", *COMPACT.ddl[1:]),
    COMPACT.fill,
)

COMPACT_HASH = Candidate(
    "compact_hash",
    (
        COMPACT_ALIGNED.ddl[0],
        "CREATE INDEX ix_correlation_id ON lineage USING hash (correlation_id)",
        "CREATE INDEX ix_parent_correlation_id ON lineage (parent_correlation_id)",
        "CREATE INDEX ix_execution_id_started_at ON lineage (execution_id, started_at)",
        "CREATE INDEX ix_started_at ON lineage (started_at)",
        *_PARTIALS,
    ),
    COMPACT.fill,
)

COMPACT_STAGES = Candidate(
    "compact_stages",
    (
        """CREATE TABLE lineage_stages (
            stage_key serial PRIMARY KEY, execution_id uuid NOT NULL, route_id varchar(64) NOT NULL,
            adapter_name varchar(64) NOT NULL, adapter_index smallint NOT NULL, stage_name varchar(128) NOT NULL,
            UNIQUE (execution_id, route_id, adapter_index, adapter_name, stage_name))""",
        """CREATE TABLE lineage (
            started_at timestamptz NOT NULL, completed_at timestamptz, duration_ms double precision,
            stage_key integer NOT NULL, emitted_count integer,
            stage_status smallint NOT NULL, delivery_count smallint NOT NULL DEFAULT 1,
            storage_kind smallint NOT NULL, attempts smallint, result smallint,
            id uuid NOT NULL, correlation_id uuid NOT NULL, parent_correlation_id uuid,
            replay_batch_id uuid, batch_id uuid,
            input_hash bytea, output_hash bytea, storage_key varchar(1024), error_info jsonb, metadata jsonb,
            CONSTRAINT pk_lineage PRIMARY KEY (id))""",
        "CREATE INDEX ix_correlation_id ON lineage USING hash (correlation_id)",
        "CREATE INDEX ix_parent_correlation_id ON lineage (parent_correlation_id)",
        "CREATE INDEX ix_stage_key_started_at ON lineage (stage_key, started_at)",
        "CREATE INDEX ix_started_at ON lineage (started_at)",
        *_PARTIALS,
    ),
    """INSERT INTO lineage_stages (execution_id, route_id, adapter_name, adapter_index, stage_name)
        SELECT DISTINCT execution_id, route_id, adapter_name, adapter_index, stage_name FROM src;
    INSERT INTO lineage (stage_key, started_at, completed_at, duration_ms, emitted_count, stage_status,
            delivery_count, storage_kind, attempts, result, id, correlation_id, parent_correlation_id,
            replay_batch_id, batch_id, input_hash, output_hash, storage_key, error_info, metadata)
        SELECT k.stage_key, started_at, completed_at, duration_ms, CASE WHEN failed THEN NULL ELSE 0 END,
            CASE WHEN failed THEN 3 ELSE 2 END, 1, CASE WHEN failed THEN 0 ELSE 1 END,
            CASE WHEN failed THEN 3 ELSE 1 END, CASE WHEN failed THEN NULL ELSE 1 END,
            s.id, s.correlation_id, s.parent_correlation_id, NULL, NULL, input_hash, output_hash, NULL,
            CASE WHEN failed THEN """
    + _ERROR
    + """::jsonb END, CASE WHEN failed THEN '{"dead_lettered": true}'::jsonb END
        FROM src s JOIN lineage_stages k USING (execution_id, route_id, adapter_name, adapter_index, stage_name)""",
)

_STAGES_BTREE_DDL = tuple(
    "CREATE INDEX ix_correlation_id ON lineage (correlation_id)" if "ix_correlation_id" in statement else statement
    for statement in COMPACT_STAGES.ddl
)

COMPACT_STAGES_BTREE = Candidate("compact_stages_btree", _STAGES_BTREE_DDL, COMPACT_STAGES.fill)

LEAN = Candidate(
    "lean",
    tuple(statement for statement in _STAGES_BTREE_DDL if "ix_started_at ON" not in statement),
    COMPACT_STAGES.fill,
)

STAGE_KEY_ONLY = Candidate(
    "stage_key_only",
    tuple(
        "CREATE INDEX ix_stage_key ON lineage (stage_key)" if "ix_stage_key_started_at" in statement else statement
        for statement in _STAGES_BTREE_DDL
    ),
    COMPACT_STAGES.fill,
)

PROPOSED = Candidate(
    "proposed",
    (
        """CREATE TABLE lineage_stages (
            stage_key serial PRIMARY KEY, execution_id varchar(36) NOT NULL, route_id varchar(64) NOT NULL,
            adapter_name varchar(64) NOT NULL, adapter_index integer NOT NULL, stage_name varchar(128) NOT NULL,
            UNIQUE (execution_id, route_id, adapter_index, adapter_name, stage_name))""",
        """CREATE TABLE lineage (
            started_at timestamptz NOT NULL, completed_at timestamptz, duration_ms double precision,
            stage_key integer NOT NULL, emitted_count integer,
            stage_status smallint NOT NULL, delivery_count smallint NOT NULL DEFAULT 1,
            storage_kind smallint NOT NULL, attempts smallint, result smallint,
            id uuid NOT NULL, correlation_id uuid NOT NULL, parent_correlation_id uuid,
            replay_batch_id uuid, batch_id uuid,
            input_hash bytea, output_hash bytea,
            id_text varchar(36), correlation_id_text varchar(36), parent_correlation_id_text varchar(36),
            replay_batch_id_text varchar(36), batch_id_text varchar(36),
            input_hash_text varchar(80), output_hash_text varchar(80),
            storage_key varchar(1024), error_info jsonb, metadata jsonb,
            CONSTRAINT pk_lineage PRIMARY KEY (id))""",
        "CREATE INDEX ix_correlation_id ON lineage (correlation_id)",
        "CREATE INDEX ix_parent_correlation_id ON lineage (parent_correlation_id)",
        "CREATE INDEX ix_stage_key ON lineage (stage_key)",
        "CREATE INDEX ix_started_at ON lineage (started_at)",
        *_PARTIALS,
    ),
    COMPACT_STAGES.fill.replace(
        "SELECT DISTINCT execution_id, route_id", "SELECT DISTINCT execution_id::text, route_id"
    ).replace(
        "FROM src s JOIN lineage_stages k USING (execution_id, route_id, adapter_name, adapter_index, stage_name)",
        "FROM src s JOIN lineage_stages k ON k.execution_id = s.execution_id::text AND k.route_id = s.route_id"
        " AND k.adapter_name = s.adapter_name AND k.adapter_index = s.adapter_index"
        " AND k.stage_name = s.stage_name",
    ),
)

SHIPPED = Candidate(
    "shipped",
    (
        """CREATE TABLE lineage_stages (
            stage_key serial PRIMARY KEY, execution_id varchar(36) NOT NULL, route_id varchar(64) NOT NULL,
            adapter_name varchar(64) NOT NULL, adapter_index integer NOT NULL, stage_name varchar(128) NOT NULL,
            row_count integer NOT NULL DEFAULT 0, pending_count integer NOT NULL DEFAULT 0,
            processing_count integer NOT NULL DEFAULT 0, completed_count integer NOT NULL DEFAULT 0,
            failed_count integer NOT NULL DEFAULT 0, skipped_count integer NOT NULL DEFAULT 0,
            cancelled_count integer NOT NULL DEFAULT 0, duration_total_ms double precision NOT NULL DEFAULT 0,
            duration_count integer NOT NULL DEFAULT 0, duration_max_ms double precision,
            first_started_at timestamptz, last_started_at timestamptz,
            UNIQUE (execution_id, route_id, adapter_index, adapter_name, stage_name))""",
        """CREATE TABLE lineage (
            started_at timestamptz NOT NULL, completed_at timestamptz, duration_ms double precision,
            stage_key integer NOT NULL, delivery_count smallint NOT NULL DEFAULT 1, emitted_count smallint,
            stage_status smallint NOT NULL, outcome smallint NOT NULL DEFAULT 0, attempts smallint,
            id uuid NOT NULL, correlation_id uuid NOT NULL, parent_correlation_id uuid,
            replay_batch_id uuid, batch_id uuid, input_hash bytea, output_hash bytea,
            id_text varchar(36), correlation_id_text varchar(36), parent_correlation_id_text varchar(36),
            replay_batch_id_text varchar(36), batch_id_text varchar(36),
            input_hash_text varchar(80), output_hash_text varchar(80),
            storage_key varchar(1024), error_info jsonb, metadata jsonb,
            CONSTRAINT pk_lineage PRIMARY KEY (id))""",
        "CREATE INDEX ix_correlation_id ON lineage (correlation_id)",
        "CREATE INDEX ix_parent_correlation_id ON lineage (parent_correlation_id)",
        "CREATE INDEX ix_started_at_stage_key ON lineage (started_at, stage_key)",
        *_PARTIALS,
    ),
    """INSERT INTO lineage_stages (execution_id, route_id, adapter_name, adapter_index, stage_name)
        SELECT DISTINCT execution_id::text, route_id, adapter_name, adapter_index, stage_name FROM src;
    INSERT INTO lineage (stage_key, started_at, completed_at, duration_ms, emitted_count, stage_status,
            delivery_count, outcome, attempts, id, correlation_id, parent_correlation_id,
            input_hash, output_hash, error_info, metadata)
        SELECT k.stage_key, started_at, completed_at, duration_ms, CASE WHEN failed THEN NULL ELSE 0 END,
            CASE WHEN failed THEN 3 ELSE 2 END, 1, CASE WHEN failed THEN 0 ELSE 5 END,
            CASE WHEN failed THEN 3 ELSE 1 END, s.id, s.correlation_id, s.parent_correlation_id,
            input_hash, output_hash, CASE WHEN failed THEN """
    + _ERROR
    + """::jsonb END, CASE WHEN failed THEN '{"dead_lettered": true}'::jsonb END
        FROM src s JOIN lineage_stages k ON k.execution_id = s.execution_id::text AND k.route_id = s.route_id
            AND k.adapter_name = s.adapter_name AND k.adapter_index = s.adapter_index
            AND k.stage_name = s.stage_name""",
)

CANDIDATES: Final = (
    TODAY,
    COMPACT,
    COMPACT_ALIGNED,
    COMPACT_HASH,
    COMPACT_STAGES,
    COMPACT_STAGES_BTREE,
    STAGE_KEY_ONLY,
    PROPOSED,
    SHIPPED,
    LEAN,
)


@dataclass(frozen=True, slots=True)
class Measurement:
    """The size of one candidate after the fill."""

    name: str
    rows: int
    total_bytes: int
    heap_bytes: int
    index_bytes: dict[str, int]

    @property
    def bytes_per_row(self) -> float:
        return self.total_bytes / max(self.rows, 1)


_RANDOM_IDS: Final = {
    "row_id": "md5('row' || s.stage || ':' || m.i)::uuid",
    "message_id": "md5('msg' || m.i)::uuid",
    "parent_id": "md5('msg0')::uuid",
}
_ORDERED_IDS: Final = {
    "row_id": "(lpad(to_hex(m.i * 2 + s.stage), 12, '0') || substr(md5('row' || s.stage || ':' || m.i), 13))::uuid",
    "message_id": "(lpad(to_hex(m.i * 2), 12, '0') || substr(md5('msg' || m.i), 13))::uuid",
    "parent_id": "(lpad(to_hex(0), 12, '0') || substr(md5('msg0'), 13))::uuid",
}


async def _measure(connection: AsyncConnection, candidate: Candidate, rows: int, *, ordered_ids: bool) -> Measurement:
    await connection.execute(text("DROP TABLE IF EXISTS lineage, lineage_stages CASCADE"))
    for statement in candidate.ddl:
        await connection.execute(text(statement))
    ids = _ORDERED_IDS if ordered_ids else _RANDOM_IDS
    order = "ORDER BY m.i, s.stage" if ordered_ids else ""
    source = _SOURCE.format(messages=rows // 2, failed_every=FAILED_EVERY, order=order, **ids)
    for statement in candidate.fill.split(";\n"):
        await connection.execute(text(f"WITH src AS ({source}) {statement}"))
    await connection.execute(text("VACUUM ANALYZE lineage"))
    count = (await connection.execute(text("SELECT count(*) FROM lineage"))).scalar_one()
    total, heap = (
        await connection.execute(
            text(
                "SELECT pg_total_relation_size('lineage'), pg_relation_size('lineage')"
                " + coalesce(pg_total_relation_size(nullif(reltoastrelid, 0)), 0)"
                " FROM pg_class WHERE oid = 'lineage'::regclass"
            )
        )
    ).one()
    extra = 0
    if candidate.name in ("compact_stages", "shipped"):
        extra = (await connection.execute(text("SELECT pg_total_relation_size('lineage_stages')"))).scalar_one()
    indexes = (
        await connection.execute(
            text(
                "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index"
                " WHERE indrelid = 'lineage'::regclass ORDER BY 2 DESC"
            )
        )
    ).all()
    return Measurement(candidate.name, int(count), int(total) + int(extra), int(heap), dict(indexes))


async def measure(postgres_url: str, rows: int, *, ordered_ids: bool = False) -> list[Measurement]:
    """Fill and measure every candidate in a scratch schema, which is dropped afterwards."""
    schema = f"factflow_layout_{uuid.uuid4().hex[:12]}"
    server = make_url(postgres_url).difference_update_query([SEARCH_PATH_OPTION])
    engine = create_async_engine(server, poolclass=NullPool)
    results: list[Measurement] = []
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                await connection.execute(text(f'SET search_path TO "{schema}"'))
                for candidate in CANDIDATES:
                    results.append(await _measure(connection, candidate, rows, ordered_ids=ordered_ids))
            finally:
                await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FACTFLOW_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--ordered-ids", action="store_true", help="time-ordered ids (as UUIDv7) instead of md5")
    args = parser.parse_args()
    for result in asyncio.run(measure(args.postgres_url, args.rows, ordered_ids=args.ordered_ids)):
        print(
            f"{result.name:16} {result.bytes_per_row:6.1f} B/row  (heap {result.heap_bytes / result.rows:5.1f},"
            f" indexes {sum(result.index_bytes.values()) / result.rows:5.1f})"
        )
        for name, size in result.index_bytes.items():
            print(f"    {name:36} {size / result.rows:6.1f}")


if __name__ == "__main__":
    main()
