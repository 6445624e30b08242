"""One factflow scenario: the three-route pipeline end to end, measured (run in its own process).

The pipeline is built from the built-in adapters only:

* `fanout`: `split` turns the init message (`{"items": [0, 1, …, N-1]}`) into N messages;
* `relay`: `passthrough`;
* `sink`: `set_fields` (`{"done": true}`), terminal.

The routes are linked by the queues `bench.mid` and `bench.out`. The manager runs with the
production `RuntimeOptions`; storage and lineage are the real providers (filesystem in a temporary
directory; SQLite in that directory, or PostgreSQL in a schema of its own that is dropped after).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from benchmarks._timing import TimingQueue, percentile
from factflow_builtins import PassthroughAdapter, SetFieldsAdapter, SplitAdapter
from factflow_engine._ports import FinalStatus
from factflow_engine.config import PipelineConfigLoader
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import EngineLimits, EngineWiring, scoped_queue_prefix
from factflow_engine.testing import build_snapshot
from factflow_foundation import freeze_startup_heap, raise_young_collection_threshold
from factflow_infra.database import SEARCH_PATH_OPTION, run_migrations
from factflow_infra.queue import MemoryQueueProvider, RedisStreamsQueueProvider
from factflow_infra.storage import FilesystemStorageProvider
from factflow_lineage import LineageRecorder
from factflow_protocols import ErrorInfo, QueueProtocol

__all__ = ("HOP_QUEUES", "ScenarioResult", "pipeline_yaml", "run_scenario")

logger = logging.getLogger(__name__)

Mode = Literal["memory", "redis"]

HOP_QUEUES = ("bench.mid", "bench.out")
"""The queues whose hops are timed: fan-out → relay, relay → sink."""

CONCURRENCY = 32
"""`inbound.concurrency` (and AIMD maximum) of the relay and sink routes."""
PREFETCH = 64
"""`inbound.prefetch` of the relay and sink routes (the ceiling relay reads this many per call)."""


def pipeline_yaml(*, storage: bool) -> str:
    """The benchmark pipeline; `storage` switches stage storage on for every adapter."""
    enabled = "true" if storage else "false"
    return f"""
version: "1.0"
name: bench-three-routes
orchestrator: {{max_handlers: {2 * CONCURRENCY + 8}, max_fanout_pending: 1000}}
routes:
  fanout:
    inbound: {{queue: bench.in, concurrency: 1, prefetch: 1}}
    adapters:
      - type: split
        config: {{field: items}}
        storage: {{enabled: {enabled}}}
    outbound: [{{queue: bench.mid}}]
  relay:
    inbound: {{queue: bench.mid, concurrency: {CONCURRENCY}, prefetch: {PREFETCH}}}
    adapters:
      - type: passthrough
        storage: {{enabled: {enabled}}}
    outbound: [{{queue: bench.out}}]
  sink:
    inbound: {{queue: bench.out, concurrency: {CONCURRENCY}, prefetch: {PREFETCH}}}
    adapters:
      - type: set_fields
        config: {{values: {{done: true}}}}
        storage: {{enabled: {enabled}}}
init_message:
  route: fanout
  payload: {{items: []}}
"""


@dataclass(slots=True)
class ScenarioResult:
    """What one scenario measured (JSON-serialised to the parent process)."""

    name: str
    mode: str
    persistence: bool
    """Lineage recorded (and, unless `storage` is off, stage outputs stored)."""
    messages: int
    status: str
    elapsed_seconds: float
    """Start of the execution → last message handled (and, with lineage, every row written)."""
    messages_per_second: float
    hop_p50_ms: dict[str, float | None] = field(default_factory=dict)
    hop_p99_ms: dict[str, float | None] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    handled: int = 0
    lineage_written: int = 0
    lineage_dropped: int = 0
    lineage_lag_seconds: float = 0.0
    """Time from the last message handled until every lineage row was written."""
    storage_writes: int = 0
    cpu_seconds: float = 0.0
    """CPU time (user + system) this process spent from the start to the end of the measurement."""
    storage: bool = False
    """Stage outputs stored."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Callbacks:
    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.status: FinalStatus | None = None
        self.counts: dict[str, int] = {}

    async def on_started(self, execution_id: str) -> None:
        return None

    async def on_stopped(
        self, execution_id: str, status: FinalStatus, error_info: ErrorInfo | None, message_counts: dict[str, int]
    ) -> None:
        self.status = status
        self.counts = dict(message_counts)
        if error_info:
            logger.error("benchmark execution ended %s: %s", status, error_info)
        self.done.set()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB: the high-water mark of this process (one scenario).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.asynccontextmanager
async def _postgres_schema(base_url: str) -> AsyncIterator[str]:
    """A fresh schema on `base_url`, yielded as a URL with `?search_path=`; dropped afterwards."""
    schema = f"factflow_bench_{uuid.uuid4().hex[:12]}"
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


@contextlib.asynccontextmanager
async def _lineage_database(mode: Mode, workdir: Path, postgres_url: str) -> AsyncIterator[str]:
    if mode == "memory":
        yield f"sqlite+aiosqlite:///{workdir / 'lineage.db'}"
        return
    async with _postgres_schema(postgres_url) as url:
        yield url


async def run_scenario(
    *,
    mode: Mode,
    storage: bool,
    lineage: bool,
    messages: int,
    redis_url: str,
    postgres_url: str,
    time_limit: float = 600.0,
) -> ScenarioResult:
    """Run the pipeline once with `messages` items and measure it (`storage` needs `lineage`)."""
    persistence = lineage
    kept = "storage+lineage" if storage else "lineage" if lineage else "no storage, no lineage"
    name = f"{mode} / {kept}"
    with tempfile.TemporaryDirectory(prefix="factflow-bench-") as tmp:
        workdir = Path(tmp)
        inner: QueueProtocol = MemoryQueueProvider() if mode == "memory" else RedisStreamsQueueProvider(redis_url)
        queue = TimingQueue(inner)
        store = FilesystemStorageProvider(workdir / "storage")
        await queue.connect()
        await store.start()
        recorder: LineageRecorder | None = None
        async with contextlib.AsyncExitStack() as stack:
            if persistence:
                database_url = await stack.enter_async_context(_lineage_database(mode, workdir, postgres_url))
                await run_migrations(database_url)
                recorder = LineageRecorder(database_url)
                await recorder.start()
            try:
                return await _run(
                    name, mode, persistence, storage, messages, queue, store, recorder, time_limit=time_limit
                )
            finally:
                if recorder is not None:
                    await recorder.shutdown(timeout=30.0)
                await queue.close()
                await store.shutdown()
    raise AssertionError("unreachable")


async def _run(
    name: str,
    mode: Mode,
    persistence: bool,
    stored: bool,
    messages: int,
    queue: TimingQueue,
    storage: FilesystemStorageProvider,
    recorder: LineageRecorder | None,
    *,
    time_limit: float,
) -> ScenarioResult:
    # Only the built-ins the pipeline uses: discovering every installed adapter package would
    # import (and count in the peak RSS) libraries this benchmark never runs.
    registry = ValidatingAdapterRegistry()
    for adapter in (SplitAdapter, PassthroughAdapter, SetFieldsAdapter):
        registry.register(adapter, name=adapter.adapter_type)
    pipeline = pipeline_yaml(storage=stored)
    config = PipelineConfigLoader(registry).load(pipeline)
    limits = EngineLimits(shutdown_grace_seconds=5.0)
    manager = EngineWiring(
        queue=queue, storage=storage, adapters=registry, lineage=recorder, limits=limits
    ).build_manager()
    callbacks = _Callbacks()
    execution_id = str(uuid.uuid4())
    init_payload: dict[str, Any] = {"items": list(range(messages))}
    # What `factflow-server serve` does once started: start-up objects never take part in a
    # collection, and the young generation is collected less often.
    freeze_startup_heap()
    raise_young_collection_threshold()
    try:
        cpu_started = _cpu_seconds()
        started = time.perf_counter()
        await manager.start(
            manager.reserve(execution_id),
            build_snapshot(pipeline, config),
            callbacks=callbacks,
            init_payload=init_payload,
            source="bench",
        )
        async with asyncio.timeout(time_limit):
            # Every delivery: the init message plus N through the relay and N through the sink.
            await queue.wait_handled(2 * messages + 1)
            finished = queue.last_settled
            lineage_lag = 0.0
            if recorder is not None:
                await recorder.flush(timeout=120.0)
                lineage_lag = max(0.0, time.perf_counter() - finished)
            elapsed = finished - started + lineage_lag
            cpu = _cpu_seconds() - cpu_started
            await callbacks.done.wait()
    finally:
        await manager.shutdown(0)
        with contextlib.suppress(Exception):
            await queue.purge_prefix(scoped_queue_prefix(execution_id))
    hops = {hop: queue.latencies.get(scoped_queue_prefix(execution_id) + hop, []) for hop in HOP_QUEUES}
    return ScenarioResult(
        name=name,
        mode=mode,
        persistence=persistence,
        messages=messages,
        status=callbacks.status or "unknown",
        elapsed_seconds=elapsed,
        messages_per_second=messages / elapsed if elapsed > 0 else 0.0,
        hop_p50_ms={hop: _ms(percentile(samples, 0.50)) for hop, samples in hops.items()},
        hop_p99_ms={hop: _ms(percentile(samples, 0.99)) for hop, samples in hops.items()},
        peak_rss_mb=_peak_rss_mb(),
        handled=callbacks.counts.get("handled", 0),
        lineage_written=recorder.written_total if recorder is not None else 0,
        lineage_dropped=recorder.dropped_total if recorder is not None else 0,
        lineage_lag_seconds=lineage_lag,
        storage_writes=manager.storage_counters.writes_total,
        cpu_seconds=cpu,
        storage=stored,
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def default_redis_url() -> str:
    return (
        os.environ.get("FACTFLOW_BENCH_REDIS_URL")
        or os.environ.get("FACTFLOW_TEST_REDIS_URL")
        or ("redis://127.0.0.1:6379/9")
    )
