"""The per-route message counts a stopped execution shows (frozen at its end) equal what its lineage
rows say: after a normal run, after a SIGKILL and start-up recovery, and for a replay."""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from factflow_infra.testing.plugin import postgres_database_url, redis_db, redis_url
from factflow_server.testing import ServerProcess, run_config, slow_fan_out_pipeline, store_config, wait_execution

__all__ = ("postgres_database_url", "redis_db", "redis_url")

pytestmark = pytest.mark.slow

# The pipeline of test_crash_recovery.py: fan-out → a slow two-stage route → a sink.
ITEMS = 40
PIPELINE = slow_fan_out_pipeline("counts", prefix="c", items=ITEMS, delay_ms=120, work=", concurrency: 4, prefetch: 4")


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[ServerProcess, str]:
    server = ServerProcess.start(["serve", "--embedded", "--port", "0"], env=env, cwd=tmp_path)
    return server, server.wait_until_listening()


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
    env = {
        "FACTFLOW_DATA_DIR": str(tmp_path / "data"),
        "FACTFLOW_PIPELINES_DIR": str(tmp_path / "pipelines"),
        "FACTFLOW_SHUTDOWN_GRACE_SECONDS": "1",
        "FACTFLOW_LOG_LEVEL": "WARNING",
        **backends,
    }
    (tmp_path / "pipelines").mkdir()

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
                time.sleep(0.05)
        first.process.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        first.kill()

    second, base_url = _start(tmp_path, env)
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
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
