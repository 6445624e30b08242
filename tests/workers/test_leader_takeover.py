"""Several servers on one database: the leader holds the PostgreSQL lock; a standby answers reads,
relays writes to the leader through Redis, and takes the lock when the leader is killed (`kill -9`)
while worker processes run an execution, which then completes with exact counts."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from factflow_infra.database import create_database_engine
from factflow_infra.workers import RedisWorkerRegistry
from factflow_server._leadership import LEADERSHIP_LOST_EXIT_CODE
from factflow_server.testing import (
    ServerProcess,
    read_sse,
    run_config,
    slow_fan_out_pipeline,
    store_config,
    wait_execution,
)

from .test_worker_processes import _all

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(420)]

ITEMS = 300
PIPELINE = slow_fan_out_pipeline(
    "leader-takeover", prefix="t", items=ITEMS, delay_ms=150, work=", concurrency: 4, prefetch: 4"
)

TAKEOVER_LIMIT_SECONDS = 15.0
"""The contract: a standby leads within 15 s of the leader's death."""


@pytest.fixture
def processes(tmp_path: Path, env: dict[str, str]) -> Iterator[dict[str, ServerProcess]]:
    started: dict[str, ServerProcess] = {}
    try:
        yield started
    finally:
        for process in started.values():
            if process.process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started.values():
            try:
                process.wait(timeout=60)
            finally:
                process.kill()


def _start(
    processes: dict[str, ServerProcess], name: str, args: list[str], env: dict[str, str], cwd: Path
) -> ServerProcess:
    process = ServerProcess.start(args, env=env, cwd=cwd)
    processes[name] = process
    return process


def _orchestrator_note(client: httpx.Client) -> str:
    health = client.get("/api/v1/system/health").json()
    return next(str(part["message"]) for part in health["components"] if part["name"] == "orchestrator")


def _handled_by_workers(redis_url: str) -> int:
    async def read() -> int:
        registry = RedisWorkerRegistry.from_url(redis_url)
        try:
            return sum(record.handled for record in await registry.list())
        finally:
            await registry.close()

    return asyncio.run(read())


def _start_servers_and_workers(
    processes: dict[str, ServerProcess], env: dict[str, str], cwd: Path, *worker_ids: str
) -> tuple[str, str]:
    """Server `a` (it takes the lock first), standby `b`, then the workers; returns both base URLs."""
    leader_url = _start(processes, "a", ["serve", "--port", "0", "--no-local-worker"], env, cwd).wait_until_listening()
    standby_url = _start(
        processes, "b", ["serve", "--port", "0", "--no-local-worker"], {**env, "FACTFLOW_LOG_LEVEL": "INFO"}, cwd
    ).wait_until_listening()
    for worker_id in worker_ids:
        _start(processes, worker_id, ["worker", "--id", worker_id], env, cwd).wait_for_line(_announces(worker_id))
    return leader_url, standby_url


def _announces(worker_id: str) -> Callable[[str], bool]:
    return lambda line: f"worker {worker_id} serving pools" in line


def _set_paused(client: httpx.Client, route_id: str, paused: bool) -> None:
    response = client.patch(f"/api/v1/pipelines/{route_id}", json={"state": "paused" if paused else "running"})
    assert response.status_code == 200, response.text


def test_a_standby_takes_the_lock_when_the_leader_is_killed_and_the_execution_completes(
    tmp_path: Path, env: dict[str, str], processes: dict[str, ServerProcess], redis_url: str
) -> None:
    leader_url, standby_url = _start_servers_and_workers(processes, env, tmp_path, "w1", "w2")
    with (
        httpx.Client(base_url=leader_url, timeout=60) as leader,
        httpx.Client(base_url=standby_url, timeout=60) as standby,
    ):
        assert _orchestrator_note(leader).startswith("leader"), _orchestrator_note(leader)
        assert _orchestrator_note(standby).startswith("standby"), _orchestrator_note(standby)
        # Writes sent to the standby reach the leader through the relay; reads are its own.
        config_id = store_config(standby, PIPELINE)
        assert leader.get(f"/api/v1/configs/{config_id}").status_code == 200
        _set_paused(standby, "work", True)
        execution_id = run_config(standby, config_id)["execution_id"]
        assert leader.get(f"/api/v1/executions/{execution_id}").json()["status"] == "running"
        time.sleep(2)  # held by the pause the standby relayed
        assert _handled_by_workers(redis_url) <= 1
        _set_paused(standby, "work", False)

        deadline = time.monotonic() + 180
        while _handled_by_workers(redis_url) < ITEMS // 4:  # well under way, far from done
            assert time.monotonic() < deadline, "the workers handled too little"
            time.sleep(0.1)
        processes["a"].process.send_signal(signal.SIGKILL)
        processes["a"].wait(timeout=30)
        killed_at = time.monotonic()
        while not _orchestrator_note(standby).startswith("leader"):
            assert time.monotonic() - killed_at < 60, _orchestrator_note(standby)
            time.sleep(0.2)
        takeover_seconds = time.monotonic() - killed_at

        result = wait_execution(standby, execution_id, timeout=300)
        detail = standby.get(f"/api/v1/executions/{execution_id}").json()
        rows = _all(standby, f"/api/v1/executions/{execution_id}/lineage", "entries")
        sink = _all(standby, "/api/v1/storage/objects", "objects", execution_id=execution_id, route_id="sink")

    assert takeover_seconds < TAKEOVER_LIMIT_SECONDS, takeover_seconds
    assert result["status"] == "completed", (result, processes["b"].output())
    counts = detail["message_counts"]
    assert counts["published"] == counts["handled"] == 1 + 2 * ITEMS, counts
    assert counts["dead_lettered"] == 0, counts
    completed = Counter(
        (row["route_id"], row["stage_name"], row["correlation_id"])
        for row in rows
        if row["stage_status"] == "completed"
    )
    assert set(completed.values()) == {1}, [key for key, count in completed.items() if count > 1]
    assert Counter((route, stage) for route, stage, _ in completed) == {
        ("fanout", "split"): 1,
        ("work", "delay"): ITEMS,
        ("work", "set_fields"): ITEMS,
        ("sink", "passthrough"): ITEMS,
    }
    assert len([entry for entry in sink if not entry["key"].endswith(".meta.json")]) == ITEMS


def test_a_standby_relays_a_cancel_and_the_leader_s_errors(
    tmp_path: Path, env: dict[str, str], processes: dict[str, ServerProcess]
) -> None:
    leader_url, standby_url = _start_servers_and_workers(processes, env, tmp_path, "w1")
    with (
        httpx.Client(base_url=leader_url, timeout=60) as leader,
        httpx.Client(base_url=standby_url, timeout=60) as standby,
    ):
        config_id = store_config(leader, PIPELINE)
        execution_id = run_config(standby, config_id)["execution_id"]
        cancelled = standby.post(f"/api/v1/executions/{execution_id}/cancel", json={"reason": "relayed"})
        assert cancelled.status_code in (200, 202), cancelled.text
        result = wait_execution(standby, execution_id, timeout=120)
        # The leader's error envelope comes back unchanged, with the client's correlation id.
        missing = standby.post(
            "/api/v1/configs/00000000-0000-7000-8000-000000000000/run",
            json={},
            headers={"X-Correlation-ID": "relayed-404"},
        )
        unchanged = leader.get(f"/api/v1/executions/{execution_id}").json()
        # A leader that takes nothing (stopped, still holding the lock): the standby's 503 says the
        # write was not done, and it is not done when the leader comes back.
        processes["a"].send_signal(signal.SIGSTOP)
        try:
            unanswered = standby.patch("/api/v1/pipelines/sink", json={"state": "paused"})
        finally:
            processes["a"].send_signal(signal.SIGCONT)
        time.sleep(3)  # the leader pops the withdrawn request and drops it
        paused_routes = leader.get("/api/v1/pipelines").json()["paused_routes"]

    assert result["status"] == "cancelled", result
    assert unchanged["status"] == "cancelled"
    assert missing.status_code == 404, missing.text
    assert missing.json()["error_code"] == "config_not_found"
    assert missing.json()["correlation_id"] == missing.headers["X-Correlation-ID"] == "relayed-404"
    assert unanswered.status_code == 503, unanswered.text
    assert unanswered.json()["error_code"] == "orchestrator_unavailable"
    assert unanswered.json()["context"]["applied"] is False, unanswered.text
    assert paused_routes == []


_LOCK_SESSIONS = text(
    "SELECT l.pid, (l.classid::bigint << 32) | l.objid::bigint AS key FROM pg_locks AS l"
    " JOIN pg_stat_activity AS a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = :holder"
)


async def _lock_session(database_url: str, holder: str, *, other_than: int | None) -> tuple[int, int]:
    """(backend pid, advisory key) of the session `holder` holds the server lock on, once it is not `other_than`."""
    engine = create_database_engine(database_url)
    try:
        async with asyncio.timeout(30):
            while True:
                async with engine.connect() as connection:
                    rows = list(await connection.execute(_LOCK_SESSIONS, {"holder": holder}))
                if rows and rows[0].pid != other_than:
                    return int(rows[0].pid), int(rows[0].key)
                await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def _terminate(database_url: str, backend_pid: int) -> None:
    engine = create_database_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": backend_pid})
    finally:
        await engine.dispose()


async def _hold_the_lock_from_its_dropped_connection(
    database_url: str, key: int, backend_pid: int, server: ServerProcess
) -> int | None:
    """Wait for the lock in a session of our own, then end the holder's session: PostgreSQL grants
    it to the waiting session as the holder's goes, before the holder can try again. Hold it until
    the server process ends (at most 30 s); its exit status."""
    engine = create_database_engine(database_url)
    try:
        async with engine.connect() as waiting:
            waiter_pid = (await waiting.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            locking = asyncio.ensure_future(waiting.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key}))
            waiting_sql = text(
                "SELECT count(*) FROM pg_locks WHERE pid = :pid AND locktype = 'advisory' AND NOT granted"
            )
            async with engine.connect() as watcher:
                while not (await watcher.execute(waiting_sql, {"pid": waiter_pid})).scalar_one():  # noqa: ASYNC110  # another session
                    await asyncio.sleep(0.05)
                await watcher.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": backend_pid})
            await asyncio.wait_for(locking, timeout=30)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    while server.process.poll() is None:  # noqa: ASYNC110  # a child process
                        await asyncio.sleep(0.1)
            await waiting.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            return server.process.poll()
    finally:
        await engine.dispose()


def test_a_leader_takes_its_lock_again_after_losing_the_connection_and_exits_when_another_holds_it(
    tmp_path: Path, env: dict[str, str], processes: dict[str, ServerProcess], postgres_database_url: str
) -> None:
    leader = _start(processes, "a", ["serve", "--port", "0"], {**env, "FACTFLOW_LOG_LEVEL": "INFO"}, tmp_path)
    base_url = leader.wait_until_listening()
    holder = f"factflow-server {socket.gethostname()} pid {leader.process.pid}"[:63]
    first_session, key = asyncio.run(_lock_session(postgres_database_url, holder, other_than=None))

    # Its lock connection ends (a PostgreSQL restart, a terminated session): nobody else wants the
    # lock, so the server takes it again on a new connection and goes on leading.
    asyncio.run(_terminate(postgres_database_url, first_session))
    second_session, _ = asyncio.run(_lock_session(postgres_database_url, holder, other_than=first_session))
    with httpx.Client(base_url=base_url, timeout=30) as client:
        assert _orchestrator_note(client).startswith("leader"), _orchestrator_note(client)
    assert leader.process.poll() is None

    # This time another session takes the lock as the connection drops: the server must not lead
    # beside it, so it exits with the status a supervisor restarts it on.
    status = asyncio.run(_hold_the_lock_from_its_dropped_connection(postgres_database_url, key, second_session, leader))
    assert status == LEADERSHIP_LOST_EXIT_CODE, leader.output()
    assert "stops leading: another server took the server lock" in leader.output()


STREAMED = f"""
version: "1.0"
name: streamed-elsewhere
routes:
  fanout:
    inbound: {{queue: s.in}}
    adapters:
      - type: split
        config: {{field: items}}
    outbound: [{{queue: s.work}}]
  work:
    inbound: {{queue: s.work, concurrency: 1, prefetch: 1}}
    adapters:
      - type: delay
        config: {{ms: 150}}
init_message:
  route: fanout
  payload: {{items: {list(range(30))}}}
"""


def test_an_event_stream_on_a_standby_carries_the_leader_s_live_events(
    tmp_path: Path, env: dict[str, str], processes: dict[str, ServerProcess], redis_url: str
) -> None:
    leader_url = _start(processes, "a", ["serve", "--port", "0"], env, tmp_path).wait_until_listening()
    standby_url = _start(processes, "b", ["serve", "--port", "0"], env, tmp_path).wait_until_listening()
    with (
        httpx.Client(base_url=leader_url, timeout=60) as leader,
        httpx.Client(base_url=standby_url, timeout=120) as standby,
    ):
        assert _orchestrator_note(standby).startswith("standby"), _orchestrator_note(standby)
        execution_id = run_config(leader, store_config(leader, STREAMED))["execution_id"]
        # The leader publishes the execution's events about a second after the standby's stream watches it.
        with standby.stream("GET", f"/api/v1/executions/{execution_id}/events", params={"timeout": 120}) as response:
            assert response.status_code == 200, response.read()
            frames = [frame for frame in read_sse(response) if "event" in frame]

    names = [frame["event"] for frame in frames]
    assert names[0] == "execution.snapshot", names
    assert "stage.completed" in names and "execution.progress" in names, names
    progress = [frame["data"] for frame in frames if frame["event"] == "execution.progress"]
    assert progress[-1]["handled"] == progress[-1]["published"] == 31, progress[-1]
    # The leader's own final status event, then the end of the stream.
    assert names[-2:] == ["execution.status", "stream.end"], names[-5:]
    assert frames[-2]["data"]["status"] == "completed"
    assert frames[-1]["data"] == {**frames[-1]["data"], "reason": "terminal", "status": "completed"}


FAILING = 10
FAILING_PIPELINE = PIPELINE.replace(
    "      - type: delay\n",
    "      - type: fail\n"
    f"        config: {{condition: {{field: item, operator: lt, value: {FAILING}}}, retryable: false}}\n"
    "      - type: delay\n",
    1,
).replace("init_message:", "error_handling: {tolerated_failures: 100}\ninit_message:", 1)


def test_dead_letters_from_before_a_takeover_count_once(
    tmp_path: Path, env: dict[str, str], processes: dict[str, ServerProcess], redis_url: str
) -> None:
    leader_url, standby_url = _start_servers_and_workers(processes, env, tmp_path, "w1", "w2")
    with httpx.Client(base_url=standby_url, timeout=60) as standby:
        execution_id = run_config(standby, store_config(standby, FAILING_PIPELINE))["execution_id"]
        deadline = time.monotonic() + 180
        # The failing items come first: every one is dead-lettered well before the leader dies.
        while _handled_by_workers(redis_url) < ITEMS // 4:
            assert time.monotonic() < deadline, "the workers handled too little"
            time.sleep(0.1)
        processes["a"].process.send_signal(signal.SIGKILL)
        processes["a"].wait(timeout=30)
        killed_at = time.monotonic()
        while not _orchestrator_note(standby).startswith("leader"):
            assert time.monotonic() - killed_at < 60, _orchestrator_note(standby)
            time.sleep(0.2)
        result = wait_execution(standby, execution_id, timeout=300)
        detail = standby.get(f"/api/v1/executions/{execution_id}").json()
        rows = _all(standby, f"/api/v1/executions/{execution_id}/lineage", "entries")

    assert result["status"] == "completed", (result, processes["b"].output())
    dead_in_lineage = {row["correlation_id"] for row in rows if row["stage_status"] == "failed"}
    assert len(dead_in_lineage) == FAILING
    assert detail["message_counts"]["dead_lettered"] == FAILING, detail["message_counts"]
