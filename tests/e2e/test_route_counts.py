"""The per-route message counts equal what the lineage rows say: frozen at the end after a normal run,
after a SIGKILL and start-up recovery, and for a replay; and read from the database's counters while
the execution runs (before the kill and during the recovered run), in one database snapshot with
the aggregation over the rows."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_infra.database import create_database_engine
from factflow_infra.testing.plugin import postgres_database_url, redis_db, redis_url
from factflow_lineage import LineageRepository, RouteMessageCounts
from factflow_server.testing import (
    ServerProcess,
    run_config,
    serve_with_workers,
    slow_fan_out_pipeline,
    store_config,
    wait_execution,
)

__all__ = ("postgres_database_url", "redis_db", "redis_url")

pytestmark = pytest.mark.slow

# The pipeline of test_crash_recovery.py: fan-out → a slow two-stage route → a sink.
ITEMS = 40
PIPELINE = slow_fan_out_pipeline("counts", prefix="c", items=ITEMS, delay_ms=120, work=", concurrency: 4, prefetch: 4")


def _server_env(tmp_path: Path, backends: dict[str, str]) -> tuple[dict[str, str], str]:
    """The environment of a server on `backends` with its data under `tmp_path`, and its database URL."""
    env = {
        "FACTFLOW_DATA_DIR": str(tmp_path / "data"),
        "FACTFLOW_PIPELINES_DIR": str(tmp_path / "pipelines"),
        "FACTFLOW_SHUTDOWN_GRACE_SECONDS": "1",
        "FACTFLOW_LOG_LEVEL": "WARNING",
        **backends,
    }
    (tmp_path / "pipelines").mkdir()
    database_url = backends.get("FACTFLOW_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'data' / 'factflow.db'}")
    return env, database_url


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[ServerProcess, str]:
    server = ServerProcess.start(["serve", "--embedded", "--port", "0"], env=env, cwd=tmp_path)
    return server, server.wait_until_listening()


async def _snapshot(database_url: str, execution_id: str) -> tuple[dict[str, RouteMessageCounts], ...]:
    """The route counters and the aggregation over the rows, read in one snapshot of the database."""
    postgres = database_url.startswith("postgresql")
    engine = create_database_engine(database_url)
    try:
        async with engine.connect() as connection:
            if postgres:
                await connection.execution_options(isolation_level="REPEATABLE READ")
                await connection.begin()
            else:  # the driver starts no transaction before a read; a read transaction is one snapshot
                await connection.exec_driver_sql("BEGIN")
            try:
                repository = LineageRepository(async_sessionmaker(bind=connection, class_=AsyncSession))
                return (
                    await repository.route_counters(execution_id),
                    await repository.route_message_counts(execution_id),
                )
            finally:
                await connection.rollback()
    finally:
        await engine.dispose()


def _assert_counters_while_running(database_url: str, execution_id: str, client: httpx.Client) -> int:
    """Compare the counters with the aggregation while the execution runs; the snapshots taken."""
    snapshots = 0
    while client.get(f"/api/v1/executions/{execution_id}").json()["status"] == "running":
        counters, aggregated = asyncio.run(_snapshot(database_url, execution_id))
        assert counters == aggregated
        snapshots += 1
        if snapshots >= 15:
            break
    return snapshots


def _handled(client: httpx.Client, execution_id: str) -> int:
    counts: dict[str, int] = client.get(f"/api/v1/executions/{execution_id}").json()["message_counts"]
    return counts["handled"]


def _all_rows(client: httpx.Client, execution_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = client.get(
            f"/api/v1/executions/{execution_id}/lineage", params={"limit": 1000, "offset": len(rows)}
        ).json()
        rows.extend(page["entries"])
        if not page["has_more"]:
            return rows


@pytest.fixture(params=["embedded", pytest.param("redis-postgres", marks=[pytest.mark.redis, pytest.mark.postgres])])
def backends(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "embedded":
        return {}
    return {
        "FACTFLOW_DATABASE_URL": request.getfixturevalue("postgres_database_url"),
        "FACTFLOW_QUEUE_URL": request.getfixturevalue("redis_url"),
        "FACTFLOW_QUEUE_VISIBILITY_TIMEOUT_SECONDS": "5",
    }


def _from_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """RouteStatus counts as the HTTP API defines them, computed here from the lineage rows."""
    statuses: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    durations: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        statuses[row["route_id"]][row["correlation_id"]].add(row["stage_status"])
        if row["stage_status"] == "completed" and row["duration_ms"] is not None:
            durations[row["route_id"]].append(row["duration_ms"])
    counts: dict[str, dict[str, Any]] = {}
    for route_id, messages in statuses.items():
        classes = {"completed": 0, "failed": 0, "cancelled": 0, "in_progress": 0}
        for seen in messages.values():
            if "failed" in seen:
                classes["failed"] += 1
            elif seen & {"pending", "processing"}:
                classes["in_progress"] += 1
            elif "cancelled" in seen:
                classes["cancelled"] += 1
            else:
                classes["completed"] += 1
        spent = durations[route_id]
        counts[route_id] = {
            "total_messages": len(messages),
            **classes,
            "avg_duration_ms": sum(spent) / len(spent) if spent else None,
        }
    return counts


def _shown(client: httpx.Client, execution_id: str) -> dict[str, dict[str, Any]]:
    detail = client.get(f"/api/v1/executions/{execution_id}").json()
    routes = client.get(f"/api/v1/executions/{execution_id}/routes").json()["routes"]
    assert [route["route_id"] for route in routes] == [route["route_id"] for route in detail["routes"]]
    keys = ("total_messages", "completed", "failed", "cancelled", "in_progress", "avg_duration_ms")
    shown = {route["route_id"]: {key: route[key] for key in keys} for route in detail["routes"]}
    assert shown == {route["route_id"]: {key: route[key] for key in keys} for route in routes}
    return {route_id: counts for route_id, counts in shown.items() if counts["total_messages"]}


def _assert_equal(shown: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    assert shown.keys() == expected.keys()
    for route_id, counts in expected.items():
        mine = dict(shown[route_id])
        average, theirs = mine.pop("avg_duration_ms"), dict(counts)
        assert mine == {key: value for key, value in theirs.items() if key != "avg_duration_ms"}, route_id
        assert (average is None) == (theirs["avg_duration_ms"] is None)
        if average is not None:
            assert average == pytest.approx(theirs["avg_duration_ms"])


def test_route_counts_match_lineage_after_a_kill_recovery_and_a_replay(
    tmp_path: Path, backends: dict[str, str]
) -> None:
    env, database_url = _server_env(tmp_path, backends)

    first, base_url = _start(tmp_path, env)
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            config_id = store_config(client, PIPELINE)
            normal = run_config(client, config_id)["execution_id"]
            wait_execution(client, normal, timeout=120)
            _assert_equal(_shown(client, normal), _from_rows(_all_rows(client, normal)))

            killed = run_config(client, config_id)["execution_id"]
            deadline = time.monotonic() + 60
            while _handled(client, killed) < 12:
                assert time.monotonic() < deadline, "the execution made no progress"
                counters, aggregated = asyncio.run(_snapshot(database_url, killed))
                assert counters == aggregated
        first.process.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        first.kill()

    second, base_url = _start(tmp_path, env)
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            _assert_counters_while_running(database_url, killed, client)
            assert wait_execution(client, killed, timeout=180)["status"] == "completed"
            assert client.get(f"/api/v1/executions/{killed}").json()["recovery_count"] == 1
            _assert_equal(_shown(client, killed), _from_rows(_all_rows(client, killed)))

            replay = client.post(f"/api/v1/executions/{normal}/replay", json={"from_stage": "delay"})
            assert replay.status_code == 201, replay.text
            replayed = replay.json()["id"]
            assert wait_execution(client, replayed, timeout=120)["status"] == "completed"
            shown = _shown(client, replayed)
            _assert_equal(shown, _from_rows(_all_rows(client, replayed)))
            assert shown["sink"]["completed"] > 0
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        second.kill()


# Fan-out inside a route (children run the next adapters), retries that succeed, a non-retryable
# failure and retries used up (dead letters), a stage returning nothing, a condition skipping a stage.
ITEMS_RICH = 12
RICH = f"""
version: "1.0"
name: rich-counts
error_handling: {{max_retries: 3, retry_delay_seconds: 0.05, backoff: fixed, tolerated_failures: 100}}
routes:
  work:
    inbound: {{queue: r.in}}
    adapters:
      - type: split
        config: {{field: items}}
      - type: fail
        stage: flaky
        config: {{condition: {{field: item, operator: in, value: [1, 4]}}, times: 2}}
      - type: fail
        stage: poison
        config: {{condition: {{field: item, operator: eq, value: 2}}, retryable: false}}
      - type: filter
        config: {{condition: {{field: item, operator: neq, value: 3}}}}
      - type: set_fields
        condition: {{field: item, operator: gte, value: 5}}
        config: {{values: {{big: true}}}}
    outbound: [{{queue: r.next}}]
  next:
    inbound: {{queue: r.next, concurrency: 2}}
    adapters:
      - type: delay
        config: {{ms: 150}}
      - type: fail
        stage: stubborn
        config: {{condition: {{field: item, operator: eq, value: 6}}}}
init_message:
  route: work
  payload: {{items: {list(range(ITEMS_RICH))}}}
"""

# A slow route to cancel mid-run.
SLOW = """
version: "1.0"
name: slow-counts
routes:
  fan:
    inbound: {queue: s.in}
    adapters:
      - type: split
        config: {field: items}
    outbound: [{queue: s.work}]
  work:
    inbound: {queue: s.work, concurrency: 2, prefetch: 2}
    adapters:
      - type: delay
        config: {ms: 400}
      - type: passthrough
init_message:
  route: fan
  payload: {items: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]}
"""


def test_route_counts_match_lineage_with_failures_retries_conditions_and_cancel(
    tmp_path: Path, backends: dict[str, str]
) -> None:
    env, database_url = _server_env(tmp_path, backends)
    server, base_url = _start(tmp_path, env)
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            rich = run_config(client, store_config(client, RICH))["execution_id"]
            _assert_counters_while_running(database_url, rich, client)
            assert wait_execution(client, rich, timeout=120)["status"] == "completed"
            rows = _all_rows(client, rich)
            expected = _from_rows(rows)
            _assert_equal(_shown(client, rich), expected)
            # The run had what it is meant to cover: every class of row and message.
            statuses = {row["stage_status"] for row in rows}
            assert {"completed", "failed", "skipped"} <= statuses
            assert any((row.get("metadata") or {}).get("attempts", 1) > 1 for row in rows)
            assert expected["work"]["failed"] == 1 and expected["next"]["failed"] == 1
            assert expected["work"]["total_messages"] == 1 + ITEMS_RICH

            slow = run_config(client, store_config(client, SLOW))["execution_id"]
            deadline = time.monotonic() + 60
            while _handled(client, slow) < 4:
                assert time.monotonic() < deadline, "the execution made no progress"
                counters, aggregated = asyncio.run(_snapshot(database_url, slow))
                assert counters == aggregated
            cancel = client.post(f"/api/v1/executions/{slow}/cancel")
            assert cancel.status_code in (200, 202), cancel.text
            assert wait_execution(client, slow, timeout=60)["status"] == "cancelled"
            shown = _shown(client, slow)
            _assert_equal(shown, _from_rows(_all_rows(client, slow)))
            counters, aggregated = asyncio.run(_snapshot(database_url, slow))
            assert counters == aggregated
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    finally:
        server.kill()


@pytest.mark.redis
@pytest.mark.postgres
def test_route_counts_match_lineage_with_two_worker_processes(tmp_path: Path) -> None:
    # Two processes write one execution's lineage at once; the counters are shared in the database.
    with serve_with_workers(tmp_path, workers=2) as running, running.client() as client:
        database_url = running.settings.database_url
        assert database_url is not None
        for config in (PIPELINE, RICH):
            execution_id = run_config(client, store_config(client, config))["execution_id"]
            _assert_counters_while_running(database_url, execution_id, client)
            wait_execution(client, execution_id, timeout=120)
            _assert_equal(_shown(client, execution_id), _from_rows(_all_rows(client, execution_id)))
            counters, aggregated = asyncio.run(_snapshot(database_url, execution_id))
            assert counters == aggregated
