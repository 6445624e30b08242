"""The scale scenario: read endpoints against one execution with 1,000,000 lineage rows (PostgreSQL).

Seeding is plain SQL (`generate_series`), not the API: 500,000 messages × 2 stages (the routes
`ingest` → `enrich`, one adapter each; 1 % of the messages fail in `enrich`) for one finished
execution, beside 100,000 other finished executions, in a PostgreSQL schema of its own. The big
execution is then ended through the product's own end-of-execution path
(`ExecutionStatusCallbackAdapter.on_stopped`), so whatever an execution freezes when it ends is
there (its route counts, and its route counters sealed), and its per-message counter rows are
compacted as the server's lineage retention pass does; the bytes of every table that exists
because of lineage are measured before and after that compaction. The real server then starts in
a process of its own (`factflow-server serve --embedded` on the seeded schema,
`factflow_server.testing.ServerProcess`) and every endpoint is called 20 times; the schema is
dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from benchmarks._timing import percentile
from factflow_builtins import PassthroughAdapter, SetFieldsAdapter
from factflow_engine.config import PipelineConfigLoader
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.testing import build_snapshot
from factflow_execution import ExecutionEventHub, PipelineExecutionRepository, StatsCalculator
from factflow_execution._callbacks import ExecutionStatusCallbackAdapter
from factflow_infra.database import SEARCH_PATH_OPTION, create_database_engine, create_session_factory, run_migrations
from factflow_lineage import LineageRepository

__all__ = ("DETAIL_GOAL_MS", "ENDPOINT_GOAL_MS", "LINEAGE_TABLES", "ScaleResult", "run_scale")

MESSAGES = 500_000
"""Messages of the big execution; each has a row in both routes."""
EXECUTIONS = 100_000
"""Executions in the table (the big one included)."""
REQUESTS = 20
"""Requests per endpoint."""
ENDPOINT_GOAL_MS = 100.0
"""p99 goal of every endpoint."""
DETAIL_GOAL_MS = 20.0
"""p99 goal of `GET /executions/{id}` (what `factflow execution get` calls)."""
FAILED_EVERY = 100
"""Every 100th message fails in `enrich`."""
LINEAGE_TABLES = (
    "pipeline_lineage",
    "pipeline_lineage_stages",
    "pipeline_lineage_buckets",
    "pipeline_lineage_routes",
    "pipeline_lineage_messages",
)
"""Every table that exists because of lineage: the rows and the counters the database keeps beside them."""

PIPELINE = """
version: "1.0"
name: scale
routes:
  ingest:
    inbound: {queue: scale.in}
    adapters:
      - type: passthrough
        stage: fetch
    outbound: [{queue: scale.mid}]
  enrich:
    inbound: {queue: scale.mid}
    adapters:
      - type: set_fields
        stage: tag
        config: {values: {done: true}}
"""


# Ids as the product makes them: a row id is a UUIDv7 of the moment the row starts; message ids
# derived from the root (`derive_message_id`) carry the root's timestamp and hash bits. md5 of a
# label stands in for the random and hash bits.
def _uuid7(moment: str, label: str) -> str:
    return (
        f"(lpad(to_hex(floor(extract(epoch FROM {moment}) * 1000)::bigint), 12, '0') || '7'"
        f" || substr(md5({label}), 1, 3) || '8' || substr(md5({label}), 4, 15))::uuid"
    )


_SEED_STAGES = """
INSERT INTO pipeline_lineage_stages (execution_id, route_id, adapter_name, adapter_index, stage_name)
VALUES (:execution_id, 'ingest', 'passthrough', 0, 'fetch'), (:execution_id, 'enrich', 'set_fields', 0, 'tag')
"""

# Rows in `started_at` order, as the recorder writes them; the counter triggers fill the stage rows.
_SEED_LINEAGE = f"""
INSERT INTO pipeline_lineage (
    started_at, completed_at, duration_ms, stage_key, delivery_count, emitted_count, stage_status, outcome,
    attempts, id, correlation_id, parent_correlation_id, input_hash, output_hash, error_info, metadata)
SELECT
    src.started_at, src.started_at + interval '0.5 milliseconds', 0.5 + (src.i % 7) * 0.25, k.stage_key, 1,
    CASE WHEN src.failed THEN NULL ELSE 0 END,
    CASE WHEN src.failed THEN 3 ELSE 2 END,
    CASE WHEN src.failed THEN 0 ELSE 1 + 4 * 1 END,  -- the derived output key, result `message`
    CASE WHEN src.failed THEN 3 ELSE 1 END,
    {_uuid7("src.started_at", "'row' || src.stage || ':' || src.i")},
    {_uuid7("CAST(:started AS timestamptz)", "'msg' || src.i")},
    CASE WHEN src.i = 0 THEN NULL ELSE {_uuid7("CAST(:started AS timestamptz)", "'msg0'")} END,
    sha256(convert_to('in' || src.stage || ':' || src.i, 'UTF8')),
    CASE WHEN src.failed THEN NULL ELSE sha256(convert_to('out' || src.stage || ':' || src.i, 'UTF8')) END,
    CASE WHEN src.failed
         THEN '{{"error_type": "AdapterError", "message": "boom", "traceback": null,'
              ' "attempts": 3, "retryable": false}}'::jsonb
         END,
    CASE WHEN src.failed THEN '{{"dead_lettered": true}}'::jsonb END
FROM (
    SELECT m.i, s.stage, s.route_id,
        CAST(:started AS timestamptz) + make_interval(secs => m.i * 0.002 + s.stage * 0.001) AS started_at,
        (s.stage = 1 AND m.i % CAST(:failed_every AS int) = 7) AS failed
    FROM generate_series(0, CAST(:messages AS int) - 1) AS m(i)
    CROSS JOIN (VALUES (0, 'ingest'), (1, 'enrich')) AS s(stage, route_id)
) AS src
JOIN pipeline_lineage_stages AS k ON k.execution_id = CAST(:execution_id AS text) AND k.route_id = src.route_id
ORDER BY src.i, src.stage
"""

_SEED_EXECUTIONS = """
INSERT INTO pipeline_executions (
    id, config_id, config_name, config_version, status, source, started_at, completed_at, duration_ms,
    config_snapshot, metadata, cancel_requested, recovery_count, message_counts, updated_at,
    queues_purged_at, dlq_purged_at)
SELECT
    md5('exec' || e.i)::uuid::text, :config_id, 'scale', 1, 'completed', 'api',
    CAST(:started AS timestamptz) - make_interval(secs => e.i),
    CAST(:started AS timestamptz) - make_interval(secs => e.i) + interval '1 second', 1000.0,
    CAST(:snapshot AS json), '{}', false, 0,
    '{"published": 1, "handled": 1, "in_flight": 0, "dead_lettered": 0, "tolerated_failures": 0}', now(),
    now(), now()
FROM generate_series(1, :others) AS e(i)
"""
# The history's queues are purged, as the queue janitor leaves a server's finished executions:
# without the stamps the janitor would catch up on 100,000 executions while the reads are timed.


@dataclass(slots=True)
class EndpointTiming:
    """Latencies of one endpoint."""

    name: str
    path: str
    goal_ms: float
    samples_ms: list[float] = field(default_factory=list)
    status: int = 0

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 0.99) or 0.0

    @property
    def passed(self) -> bool:
        return self.status == 200 and self.p99 < self.goal_ms


@dataclass(slots=True)
class ScaleResult:
    """What the scale scenario measured."""

    lineage_rows: int
    executions: int
    seed_seconds: float
    lineage_bytes: int
    heap_bytes: int
    index_bytes: dict[str, int]
    endpoints: list[EndpointTiming]
    table_bytes: dict[str, int] = field(default_factory=dict)
    """`pg_total_relation_size` of each lineage table as the finished execution rests (summed: `lineage_bytes`)."""
    running_table_bytes: dict[str, int] = field(default_factory=dict)
    """The same before the per-message counter rows were compacted (as while the execution ran)."""
    table_index_bytes: dict[str, int] = field(default_factory=dict)
    """The indexes' part of `table_bytes` (`pg_indexes_size`)."""

    @property
    def bytes_per_row(self) -> float:
        return self.lineage_bytes / max(self.lineage_rows, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lineage_rows": self.lineage_rows,
            "executions": self.executions,
            "seed_seconds": self.seed_seconds,
            "lineage_bytes": self.lineage_bytes,
            "heap_bytes": self.heap_bytes,
            "index_bytes": self.index_bytes,
            "table_bytes": self.table_bytes,
            "running_table_bytes": self.running_table_bytes,
            "table_index_bytes": self.table_index_bytes,
            "bytes_per_row": self.bytes_per_row,
            "endpoints": [
                {
                    "name": timing.name,
                    "path": timing.path,
                    "status": timing.status,
                    "p50_ms": timing.p50,
                    "p99_ms": timing.p99,
                    "max_ms": max(timing.samples_ms),
                    "goal_ms": timing.goal_ms,
                    "passed": timing.passed,
                }
                for timing in self.endpoints
            ],
        }


@contextlib.asynccontextmanager
async def _schema(base_url: str) -> AsyncIterator[str]:
    schema = f"factflow_scale_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(make_url(base_url), poolclass=NullPool)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield (
                make_url(base_url).update_query_dict({SEARCH_PATH_OPTION: schema}).render_as_string(hide_password=False)
            )
        finally:
            async with admin.begin() as connection:
                await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await admin.dispose()


async def _seed(engine: AsyncEngine, *, messages: int, executions: int) -> str:
    """Seed the rows; returns the big execution's id."""
    registry = ValidatingAdapterRegistry()
    for adapter in (PassthroughAdapter, SetFieldsAdapter):
        registry.register(adapter, name=adapter.adapter_type)
    config = PipelineConfigLoader(registry).load(PIPELINE)
    snapshot = build_snapshot(PIPELINE, config)
    config_id, execution_id = str(uuid.uuid4()), str(uuid.uuid4())
    started = (await _now(engine)).replace(microsecond=0)
    snapshot_json = json.dumps(snapshot.model_dump())
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO pipeline_configs (id, name, config_yaml, config_hash, version, source_type, is_active,"
                " created_at, updated_at) VALUES (:id, 'scale', :yaml, :hash, 1, 'api', true, now(), now())"
            ),
            {"id": config_id, "yaml": PIPELINE, "hash": snapshot.config_hash},
        )
        await connection.execute(
            text(_SEED_EXECUTIONS),
            {"config_id": config_id, "started": started, "snapshot": snapshot_json, "others": executions - 1},
        )
        await connection.execute(
            text(
                "INSERT INTO pipeline_executions (id, config_id, config_name, config_version, status, source,"
                " started_at, config_snapshot, metadata, cancel_requested, recovery_count, updated_at)"
                " VALUES (:id, :config_id, 'scale', 1, 'running', 'api', :started, CAST(:snapshot AS json), '{}',"
                " false, 0, now())"
            ),
            {"id": execution_id, "config_id": config_id, "started": started, "snapshot": snapshot_json},
        )
        await connection.execute(text(_SEED_STAGES), {"execution_id": execution_id})
        await connection.execute(
            text(_SEED_LINEAGE),
            {"execution_id": execution_id, "started": started, "messages": messages, "failed_every": FAILED_EVERY},
        )
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE pipeline_lineage"))
        await connection.execute(text("VACUUM ANALYZE pipeline_lineage_stages"))
        await connection.execute(text("VACUUM ANALYZE pipeline_executions"))
    # End it the way the runtime ends an execution: whatever is frozen at the end is frozen here.
    sessions = create_session_factory(engine)
    callbacks = ExecutionStatusCallbackAdapter(
        executions=PipelineExecutionRepository(sessions),
        hub=ExecutionEventHub(),
        stats=StatsCalculator(LineageRepository(sessions, query_timeout=300.0)),
    )
    failed = len(range(7, messages, FAILED_EVERY))
    counts = {"published": 2 * messages, "handled": 2 * messages, "in_flight": 0, "dead_lettered": failed}
    await callbacks.on_stopped(execution_id, "completed", None, counts)
    return execution_id


async def _rest(engine: AsyncEngine, execution_id: str) -> int:
    """Leave the ended execution as a server does: its routes sealed, message counter rows compacted.

    Returns the message counter rows deleted.
    """
    async with engine.connect() as connection:
        sealed = (
            await connection.execute(
                text("SELECT bool_and(sealed) FROM pipeline_lineage_routes WHERE execution_id = :execution_id"),
                {"execution_id": execution_id},
            )
        ).scalar_one()
    if not sealed:
        raise RuntimeError("ending the execution did not seal its route counters")
    lineage = LineageRepository(create_session_factory(engine), query_timeout=300.0)
    deleted = await lineage.compact_sealed_messages(pause_seconds=0)
    async with engine.connect() as connection:
        # As autovacuum would after the deletes: the emptied heap is handed back.
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in LINEAGE_TABLES[1:]:
            await connection.execute(text(f"VACUUM ANALYZE {table}"))
    return deleted


async def _now(engine: AsyncEngine) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT now()"))).scalar_one()


async def _table_sizes(engine: AsyncEngine, *, of: str = "pg_total_relation_size") -> dict[str, int]:
    """`pg_total_relation_size` (heap, TOAST and indexes) of every lineage table, or another size function."""
    async with engine.connect() as connection:
        return {
            table: int((await connection.execute(text(f"SELECT {of}('{table}')"))).scalar_one())
            for table in LINEAGE_TABLES
        }


async def _sizes(engine: AsyncEngine) -> tuple[int, int, dict[str, int]]:
    """Rows of `pipeline_lineage`, its heap (with TOAST) and its indexes."""
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT count(*) FROM pipeline_lineage"))).scalar_one()
        heap = (
            await connection.execute(
                text(
                    "SELECT pg_relation_size('pipeline_lineage') + pg_relation_size(reltoastrelid)"
                    " FROM pg_class WHERE oid = 'pipeline_lineage'::regclass"
                )
            )
        ).scalar_one()
        indexes = (
            await connection.execute(
                text(
                    "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index"
                    " WHERE indrelid = 'pipeline_lineage'::regclass ORDER BY 2 DESC"
                )
            )
        ).all()
    return int(rows), int(heap), {name: int(size) for name, size in indexes}


async def _probe_ids(engine: AsyncEngine, *, messages: int) -> tuple[str, str]:
    """The last message (a leaf of the fan-out) and a row in the middle, as the API shows them."""
    async with engine.connect() as connection:
        leaf = (
            await connection.execute(
                text("SELECT correlation_id FROM pipeline_lineage ORDER BY started_at DESC LIMIT 1")
            )
        ).scalar_one()
        row = (
            await connection.execute(
                text("SELECT id FROM pipeline_lineage ORDER BY started_at OFFSET :middle LIMIT 1"),
                {"middle": messages + 1},
            )
        ).scalar_one()
    return str(leaf), str(row)


def _endpoints(execution_id: str, *, messages: int, leaf: str, row: str) -> list[tuple[str, str, float]]:
    api = "/api/v1"
    half = messages  # rows are 2 × messages; the middle page
    return [
        ("E3 execution detail", f"{api}/executions/{execution_id}", DETAIL_GOAL_MS),
        ("E10 routes", f"{api}/executions/{execution_id}/routes", ENDPOINT_GOAL_MS),
        ("E7 events (snapshot of a finished execution)", f"{api}/executions/{execution_id}/events", ENDPOINT_GOAL_MS),
        (
            "E11 lineage page at offset 500,000",
            f"{api}/executions/{execution_id}/lineage?limit=1000&offset={half}",
            100,
        ),
        ("L3 lineage stats", f"{api}/lineage/stats?execution_id={execution_id}", ENDPOINT_GOAL_MS),
        ("L6 chain of a leaf", f"{api}/lineage/{leaf}/chain", ENDPOINT_GOAL_MS),
        ("L1 lineage of the execution", f"{api}/lineage?execution_id={execution_id}&limit=100", ENDPOINT_GOAL_MS),
        (
            "L1 lineage of one stage",
            f"{api}/lineage?execution_id={execution_id}&stage_name=tag&limit=100",
            ENDPOINT_GOAL_MS,
        ),
        ("E2 executions at offset 90,000", f"{api}/executions?limit=50&offset=90000", ENDPOINT_GOAL_MS),
        ("L2 failures of the execution", f"{api}/lineage/failures?execution_id={execution_id}", ENDPOINT_GOAL_MS),
        ("L5 one message (by row id)", f"{api}/lineage/{row}", ENDPOINT_GOAL_MS),
        ("E9 execution stats", f"{api}/executions/{execution_id}/stats", ENDPOINT_GOAL_MS),
        ("E2 executions, first page", f"{api}/executions?limit=50", ENDPOINT_GOAL_MS),
        ("P1 pipelines", f"{api}/pipelines", ENDPOINT_GOAL_MS),
    ]


def _measure(base_url: str, endpoints: list[tuple[str, str, float]], requests: int) -> list[EndpointTiming]:
    timings: list[EndpointTiming] = []
    with httpx.Client(base_url=base_url, timeout=120.0) as client:
        for name, path, goal in endpoints:
            timing = EndpointTiming(name=name, path=path, goal_ms=goal)
            client.get(path)  # one warm-up call (connection, plans), not counted
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(path)
                timing.samples_ms.append((time.perf_counter() - started) * 1000.0)
                timing.status = response.status_code
            timings.append(timing)
    return timings


async def run_scale(
    *,
    postgres_url: str,
    messages: int = MESSAGES,
    executions: int = EXECUTIONS,
    requests: int = REQUESTS,
    progress: Callable[[str], None] = lambda _line: None,
) -> ScaleResult:
    """Seed, start the server, time every endpoint, drop the schema."""
    from factflow_server.testing import ServerProcess

    async with _schema(postgres_url) as url:
        await run_migrations(url)
        engine = create_database_engine(url, pool_size=2)
        try:
            progress(f"seeding {2 * messages:,} lineage rows and {executions:,} executions …")
            started = time.perf_counter()
            execution_id = await _seed(engine, messages=messages, executions=executions)
            seed_seconds = time.perf_counter() - started
            running_tables = await _table_sizes(engine)
            compacted = await _rest(engine, execution_id)
            progress(f"compacted {compacted:,} message counter rows of the ended execution")
            tables = await _table_sizes(engine)
            table_indexes = await _table_sizes(engine, of="pg_indexes_size")
            rows, heap, indexes = await _sizes(engine)
            leaf, row = await _probe_ids(engine, messages=messages)
        finally:
            await engine.dispose()
        progress(f"seeded in {seed_seconds:.0f} s; timing {REQUESTS} requests per endpoint …")
        with tempfile.TemporaryDirectory(prefix="factflow-scale-") as tmp:
            # The real server in a process of its own (as users run it), so the client's work on
            # each answer does not share this process's interpreter lock with the server.
            (Path(tmp) / "pipelines").mkdir()
            env = {
                "FACTFLOW_DATABASE_URL": url,
                "FACTFLOW_DATA_DIR": str(Path(tmp) / "data"),
                "FACTFLOW_PIPELINES_DIR": str(Path(tmp) / "pipelines"),
                "FACTFLOW_LOG_LEVEL": "WARNING",
            }
            server = ServerProcess.start(["serve", "--embedded", "--port", "0"], env=env, cwd=Path(tmp))
            try:
                base_url = server.wait_until_listening()
                timings = await asyncio.to_thread(
                    _measure, base_url, _endpoints(execution_id, messages=messages, leaf=leaf, row=row), requests
                )
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=60.0)
                except (TimeoutError, subprocess.TimeoutExpired):
                    server.kill()
    return ScaleResult(
        lineage_rows=rows,
        executions=executions,
        seed_seconds=seed_seconds,
        lineage_bytes=sum(tables.values()),
        heap_bytes=heap,
        index_bytes=indexes,
        endpoints=timings,
        table_bytes=tables,
        running_table_bytes=running_tables,
        table_index_bytes=table_indexes,
    )
