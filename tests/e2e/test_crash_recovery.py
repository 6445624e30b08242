"""A server killed with SIGKILL (or stopped gracefully) mid-execution: the next start resumes the
execution under the same id and every message is processed exactly once — embedded (SQLite,
memory queue, files) and with PostgreSQL + Redis Streams."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from factflow_infra.testing.plugin import postgres_database_url, redis_db, redis_url
from factflow_server.testing import ServerProcess, run_config, slow_fan_out_pipeline, store_config, wait_execution

__all__ = ("postgres_database_url", "redis_db", "redis_url")

pytestmark = pytest.mark.slow

ITEMS = 40
PIPELINE = slow_fan_out_pipeline("crash", prefix="c", items=ITEMS, delay_ms=120, work=", concurrency: 4, prefetch: 4")


@pytest.fixture(params=["embedded", pytest.param("redis-postgres", marks=[pytest.mark.redis, pytest.mark.postgres])])
def backends(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "embedded":
        return {}
    return {
        "FACTFLOW_DATABASE_URL": request.getfixturevalue("postgres_database_url"),
        "FACTFLOW_QUEUE_URL": request.getfixturevalue("redis_url"),
        "FACTFLOW_QUEUE_VISIBILITY_TIMEOUT_SECONDS": "5",
    }


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


@pytest.mark.parametrize("stop", ["kill", "graceful"])
def test_execution_survives_a_server_stop_and_completes_exactly_once(
    tmp_path: Path, backends: dict[str, str], stop: str
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
            execution_id = run_config(client, store_config(client, PIPELINE))["execution_id"]
            deadline = time.monotonic() + 60
            while _handled(client, execution_id) < 12:
                assert time.monotonic() < deadline, "the execution made no progress"
                time.sleep(0.05)
        if stop == "kill":
            first.process.send_signal(signal.SIGKILL)
        else:
            first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    finally:
        first.kill()

    second, base_url = _start(tmp_path, env)
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            result = wait_execution(client, execution_id, timeout=180)
            detail = client.get(f"/api/v1/executions/{execution_id}").json()
            rows = _all_rows(client, execution_id)
            sink = client.get(
                "/api/v1/storage/objects",
                params={"execution_id": execution_id, "route_id": "sink", "limit": 1000},
            ).json()
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        second.kill()

    assert result["status"] == "completed", result
    assert detail["recovery_count"] == 1
    assert len(detail["metadata"]["recovery"]) == 1
    assert detail["message_counts"]["dead_lettered"] == 0
    # Every message reaches the end once: one stored output and one completed row per stage.
    assert sink["total"] == ITEMS
    completed = Counter(
        (row["route_id"], row["stage_name"], row["correlation_id"])
        for row in rows
        if row["stage_status"] == "completed"
    )
    assert set(completed.values()) == {1}, [key for key, count in completed.items() if count > 1]
    per_stage = Counter((route, stage) for route, stage, _ in completed)
    assert per_stage == {
        ("fanout", "split"): 1,
        ("work", "delay"): ITEMS,
        ("work", "set_fields"): ITEMS,
        ("sink", "passthrough"): ITEMS,
    }
    assert not [row for row in rows if row["stage_status"] in ("pending", "processing")]
