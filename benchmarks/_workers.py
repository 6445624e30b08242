"""`make bench BENCH_ARGS="--workers N"`: the lineage pipeline on 1 … N `factflow-server worker` processes.

For each worker count a fresh cluster is started as real processes, exactly as in production:
`factflow-server serve --no-local-worker` (so the server runs no route itself) and that many
`factflow-server worker` processes, on PostgreSQL (a schema of its own, dropped afterwards) and
Redis (an empty database, flushed afterwards). The pipeline is the three-route one of the other
scenarios (`split` → `passthrough` → `set_fields`) with PostgreSQL lineage on and stage storage
off: every worker writes the lineage rows of the invocations it ran.

The timed window leaves out the server's start-up and the workers' joining: the `fanout` route is
paused before the execution starts and resumed once every worker runs the execution's routes. It
runs from the first handled message (the `split` stage's `first_started_at` in the lineage stage
counters) to the execution's `completed_at` as the API reports it (the moment the server's
reading of the Redis consumer groups showed no entry left).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import redis
from filelock import FileLock, Timeout
from sqlalchemy import make_url, text

from benchmarks._scenario import pipeline_yaml
from factflow_infra.database import SEARCH_PATH_OPTION, create_database_engine
from factflow_server.testing import ServerProcess, run_config, store_config, wait_execution

__all__ = ("DEFAULT_WORKERS_REDIS_URL", "WorkersResult", "expected_lineage_rows", "run_workers")

DEFAULT_WORKERS_REDIS_URL = "redis://127.0.0.1:6379/10"
"""The worker benchmark flushes its database afterwards, so it gets one the other scenarios do not use."""

JOIN_TIMEOUT_SECONDS = 90.0


def expected_handled(messages: int) -> int:
    """Deliveries: the init message, then every item through `relay` and through `sink`."""
    return 2 * messages + 1


def expected_lineage_rows(messages: int) -> int:
    """One row per adapter invocation: `split` once, `passthrough` and `set_fields` once per item."""
    return 2 * messages + 1


@dataclass(slots=True)
class WorkersResult:
    """One worker count's run (JSON-serialised into `--json`)."""

    workers: int
    messages: int
    status: str
    elapsed_seconds: float
    """First handled message → `completed_at`."""
    messages_per_second: float
    execution_seconds: float
    """`started_at` → `completed_at`: includes the wait until every worker had joined."""
    handled: int
    published: int
    dead_lettered: int
    lineage_rows: int
    lineage_completed: int
    handled_by_worker: dict[str, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    """CPU time (user + system) of the server and of each worker from the resume to the end of the wait."""

    @property
    def exact(self) -> bool:
        expected = expected_handled(self.messages)
        rows = expected_lineage_rows(self.messages)
        return (
            self.status == "completed"
            and self.handled == self.published == expected
            and self.dead_lettered == 0
            and self.lineage_rows == self.lineage_completed == rows
            # Every delivery ran on a worker process: the server ran no route.
            and sum(self.handled_by_worker.values()) == expected
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exact": self.exact}


# ----------------------------------------------------------------------------------- resources


@contextlib.contextmanager
def _empty_redis_database(redis_url: str) -> Iterator[None]:
    """Hold `redis_url`'s database alone (a lock file per database), empty before, flushed after."""
    shown = _without_password(redis_url)
    lock = FileLock(os.path.join(tempfile.gettempdir(), f"factflow-bench-{_lock_name(shown)}.lock"))
    try:
        lock.acquire(timeout=600)
    except Timeout:
        raise RuntimeError(f"another worker benchmark holds {shown} for more than 10 minutes") from None
    try:
        with redis.Redis.from_url(redis_url, socket_connect_timeout=5) as client:
            keys = int(client.dbsize())
            if keys:
                # Flushing afterwards must never delete somebody else's keys.
                raise RuntimeError(
                    f"Redis database {shown} is not empty ({keys} keys); pass --redis-url with an empty one"
                )
        try:
            yield
        finally:
            with redis.Redis.from_url(redis_url, socket_connect_timeout=5) as client:
                client.flushdb()
    finally:
        lock.release()


def _without_password(redis_url: str) -> str:
    parts = urlsplit(redis_url)
    if parts.password is None:
        return redis_url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def _lock_name(redis_url: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in redis_url.split("://", 1)[-1])


async def _schema_statement(base_url: str, statement: str) -> None:
    admin = create_database_engine(base_url, pool_size=1)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await admin.dispose()


@contextlib.contextmanager
def _postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema on `base_url`, yielded as a URL with `?search_path=`; dropped afterwards."""
    schema = f"factflow_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_schema_statement(base_url, f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(base_url).update_query_dict({SEARCH_PATH_OPTION: schema}).render_as_string(hide_password=False)
    finally:
        asyncio.run(_schema_statement(base_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def _lineage_figures(database_url: str, execution_id: str) -> tuple[int, int, datetime | None]:
    """Lineage rows of the execution, of which completed, and when its first invocation started."""
    engine = create_database_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            stages = (
                await connection.execute(
                    text(
                        "SELECT coalesce(sum(completed_count), 0), min(first_started_at)"
                        " FROM pipeline_lineage_stages WHERE execution_id = :execution_id"
                    ),
                    {"execution_id": execution_id},
                )
            ).one()
            # The rows themselves, not only the trigger-kept counters.
            rows = (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM pipeline_lineage WHERE stage_key IN"
                        " (SELECT stage_key FROM pipeline_lineage_stages WHERE execution_id = :execution_id)"
                    ),
                    {"execution_id": execution_id},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    first_started: datetime | None = stages[1]  # timestamptz: an aware datetime
    return int(rows), int(stages[0]), first_started


# ------------------------------------------------------------------------------------ the run


class _Cluster:
    """The server and its workers as child processes; `stop()` ends every one of them."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.processes: dict[str, ServerProcess] = {}

    def server(self) -> str:
        process = ServerProcess.start(
            ["serve", "--no-local-worker", "--host", "127.0.0.1", "--port", "0"], env=self.env, cwd=self.workdir
        )
        self.processes["server"] = process
        return process.wait_until_listening()

    def worker(self, worker_id: str) -> None:
        process = ServerProcess.start(["worker", "--id", worker_id], env=self.env, cwd=self.workdir)
        self.processes[worker_id] = process
        process.wait_for_line(lambda line: f"worker {worker_id} serving pools" in line)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time each process has used so far."""
        used: dict[str, float] = {}
        for name, process in self.processes.items():
            times = psutil.Process(process.process.pid).cpu_times()
            used[name] = times.user + times.system
        return used

    def stop(self) -> None:
        for process in self.processes.values():
            if process.process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            with contextlib.suppress(Exception):  # killed below, whatever went wrong while waiting
                process.wait(timeout=60)
            process.kill()


def _set_paused(client: httpx.Client, route_id: str, *, paused: bool) -> None:
    response = client.patch(f"/api/v1/pipelines/{route_id}", json={"state": "paused" if paused else "running"})
    response.raise_for_status()


def _wait_until_joined(client: httpx.Client, execution_id: str, worker_ids: list[str]) -> None:
    deadline = time.monotonic() + JOIN_TIMEOUT_SECONDS
    for worker_id in worker_ids:
        while True:
            response = client.get(f"/api/v1/workers/{worker_id}")
            if response.status_code == 200 and {
                route["route_id"] for route in response.json()["routes"] if route["execution_id"] == execution_id
            } >= {"fanout", "relay", "sink"}:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {worker_id} did not take up execution {execution_id}")
            time.sleep(0.2)


def _handled_by_worker(client: httpx.Client, *, expected: int) -> dict[str, int]:
    """Deliveries each worker handled, once their heartbeats (every second) report them all (at most 10 s)."""
    deadline = time.monotonic() + 10.0
    while True:
        listed = client.get("/api/v1/workers").json()["workers"]
        handled = {str(worker["worker_id"]): int(worker["handled"]) for worker in listed if not worker["local"]}
        if sum(handled.values()) >= expected or time.monotonic() > deadline:
            return handled
        time.sleep(0.25)


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def run_workers(
    *, workers: int, messages: int, redis_url: str, postgres_url: str, time_limit: float = 600.0
) -> WorkersResult:
    """Start a server without local worker and `workers` worker processes, run the pipeline once, measure it."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_empty_redis_database(redis_url))
        database_url = stack.enter_context(_postgres_schema(postgres_url))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="factflow-bench-workers-")))
        (workdir / "pipelines").mkdir()
        env = {
            "FACTFLOW_DATABASE_URL": database_url,
            "FACTFLOW_QUEUE_URL": redis_url,
            "FACTFLOW_STORAGE_URI": f"file://{workdir / 'storage'}",
            "FACTFLOW_DATA_DIR": str(workdir / "data"),
            "FACTFLOW_PIPELINES_DIR": str(workdir / "pipelines"),
            "FACTFLOW_SHUTDOWN_GRACE_SECONDS": "5",
            "FACTFLOW_LOG_LEVEL": "WARNING",
        }
        cluster = _Cluster(workdir, env)
        stack.callback(cluster.stop)
        base_url = cluster.server()
        worker_ids = [f"bench-w{number}" for number in range(1, workers + 1)]
        for worker_id in worker_ids:
            cluster.worker(worker_id)
        with httpx.Client(base_url=base_url, timeout=60) as client:
            config_id = store_config(client, pipeline_yaml(storage=False))
            # The init message waits until every worker runs the execution: joining is not timed.
            _set_paused(client, "fanout", paused=True)
            execution = run_config(client, config_id, json={"init_payload_overrides": {"items": list(range(messages))}})
            execution_id = str(execution["execution_id"])
            _wait_until_joined(client, execution_id, worker_ids)
            cpu_before = cluster.cpu_seconds()
            _set_paused(client, "fanout", paused=False)
            wait_execution(client, execution_id, timeout=time_limit)
            cpu_used = {name: used - cpu_before[name] for name, used in cluster.cpu_seconds().items()}
            detail = client.get(f"/api/v1/executions/{execution_id}").json()
            handled_by_worker = _handled_by_worker(client, expected=int(detail["message_counts"]["handled"]))
        rows, completed_rows, first_started = asyncio.run(_lineage_figures(database_url, execution_id))
        completed_at = _timestamp(detail["completed_at"])
        elapsed = (completed_at - first_started).total_seconds() if first_started is not None else 0.0
        counts = detail["message_counts"]
        return WorkersResult(
            workers=workers,
            messages=messages,
            status=str(detail["status"]),
            elapsed_seconds=elapsed,
            messages_per_second=messages / elapsed if elapsed > 0 else 0.0,
            execution_seconds=(completed_at - _timestamp(detail["started_at"])).total_seconds(),
            handled=int(counts["handled"]),
            published=int(counts["published"]),
            dead_lettered=int(counts["dead_lettered"]),
            lineage_rows=rows,
            lineage_completed=completed_rows,
            handled_by_worker=handled_by_worker,
            cpu_seconds=cpu_used,
        )
    raise AssertionError("unreachable")
