"""`benchmarks.run --workers 2` runs a real server and worker processes and checks the exact counts (not the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from factflow_infra.testing.plugin import postgres_database_url, redis_db, redis_url

__all__ = ("postgres_database_url", "redis_db", "redis_url")

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 200

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(420)]


def test_the_worker_benchmark_runs_one_and_two_workers_with_exact_counts(
    tmp_path: Path, postgres_database_url: str, redis_url: str
) -> None:
    report = tmp_path / "workers.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--workers",
            "2",
            "--messages",
            str(MESSAGES),
            "--redis-url",
            redis_url,
            # The benchmark makes (and drops) a schema of its own on this server.
            "--postgres-url",
            postgres_database_url,
            "--json",
            str(report),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "msgs/s" in completed.stdout
    assert "2 workers ≥ 1.7× the throughput of 1: measured" in completed.stdout

    data = json.loads(report.read_text())
    assert data["messages"] == MESSAGES
    assert data["errors"] == []
    assert set(data["results"]) == {"1", "2"}
    assert [(run["round"], run["workers"]) for run in data["runs"]] == [(1, 1), (1, 2)]
    for workers, result in data["results"].items():
        assert result["workers"] == int(workers)
        assert result["status"] == "completed", result
        assert result["handled"] == result["published"] == 2 * MESSAGES + 1, result
        assert result["dead_lettered"] == 0, result
        assert result["lineage_rows"] == result["lineage_completed"] == 2 * MESSAGES + 1, result
        assert result["exact"] is True
        assert result["messages_per_second"] > 0
        # Every delivery was handled by one of this run's workers: the server ran no route.
        assert set(result["handled_by_worker"]) == {f"bench-w{number}" for number in range(1, int(workers) + 1)}
        assert sum(result["handled_by_worker"].values()) == 2 * MESSAGES + 1, result
    assert data["goals"][0]["passed"] in (True, False)  # measured, whatever the machine's speed
    # Every process ended and the Redis database the benchmark used is empty again.
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0


def test_the_worker_benchmark_refuses_a_redis_database_that_holds_keys(
    tmp_path: Path, postgres_database_url: str, redis_url: str
) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.set("someone-else", "kept")
    report = tmp_path / "workers.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--workers", "1", "--messages", "10"]
        + ["--redis-url", redis_url, "--postgres-url", postgres_database_url, "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    errors = json.loads(report.read_text())["errors"]
    assert len(errors) == 1 and "is not empty (1 keys)" in errors[0], errors
    # Nothing was flushed: the benchmark only ever empties a database it found empty.
    with redis.Redis.from_url(redis_url) as client:
        assert client.get("someone-else") == b"kept"
