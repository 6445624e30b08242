"""Route metrics of routes only worker processes run: the server (`--no-local-worker`) answers
`GET /pipelines/{route_id}/metrics` from the figures the live workers publish with their heartbeat."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from factflow_infra.workers import RedisWorkerRegistry
from factflow_server.testing import read_sse, run_config, store_config, wait_execution

from .conftest import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

ITEMS = 40
POISON = 3
WORK_MS = 1000
"""Per item: 40 items on two workers of concurrency 4 take about 5 s, several of the workers' 1 s reports."""
COUNTED = f"""
version: "1.0"
name: worker-metrics
error_handling: {{tolerated_failures: {POISON}}}
routes:
  mfan:
    inbound: {{queue: m.in}}
    adapters:
      - type: split
        config: {{field: items}}
    outbound: [{{queue: m.work}}]
  mwork:
    inbound: {{queue: m.work, concurrency: 4, prefetch: 4}}
    adapters:
      - type: delay
        config: {{ms: {WORK_MS}}}
      - type: fail
        config: {{condition: {{field: item, operator: lt, value: {POISON}}}, retryable: false}}
init_message:
  route: mfan
  payload: {{items: {list(range(ITEMS))}}}
"""

BROKEN = """
version: "1.0"
name: worker-metrics-broken
error_handling: {max_retries: 20, retry_delay_seconds: 0.05, max_retry_delay_seconds: 0.1}
routes:
  mbroken:
    inbound: {queue: b.in}
    adapters:
      - type: fail
        config: {message: the service is down}
        circuit_breaker: {failure_threshold: 2, recovery_timeout_seconds: 600}
init_message:
  route: mbroken
  payload: {n: 1}
"""


def _metrics(client: httpx.Client, route_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/pipelines/{route_id}/metrics")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _eventually(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _set_paused(client: httpx.Client, route_id: str, paused: bool) -> None:
    response = client.patch(f"/api/v1/pipelines/{route_id}", json={"state": "paused" if paused else "running"})
    assert response.status_code == 200, response.text


def _handled(redis_url: str, worker_id: str) -> int:
    async def read() -> int:
        registry = RedisWorkerRegistry.from_url(redis_url)
        try:
            record = await registry.get(worker_id)
            return record.handled if record is not None else 0
        finally:
            await registry.close()

    return asyncio.run(read())


def test_a_worker_only_route_shows_its_counts_and_breakers(cluster: Cluster, redis_url: str) -> None:
    base_url = cluster.server("--no-local-worker")
    cluster.worker("w1")
    cluster.worker("w2")
    with httpx.Client(base_url=base_url, timeout=30) as client:
        missing = client.get("/api/v1/pipelines/mwork/metrics")
        assert missing.status_code == 404 and missing.json()["error_code"] == "route_not_found", missing.text

        config_id = store_config(client, COUNTED)
        _set_paused(client, "mwork", True)  # both workers run the route before anything is handed out
        execution_id = run_config(client, config_id)["execution_id"]
        _eventually(lambda: _metrics(client, "mwork")["processors"] == 2, "both workers to run the route")
        _set_paused(client, "mwork", False)
        result = wait_execution(client, execution_id, timeout=120)
        assert result["status"] == "completed", result

        # Each worker publishes its figures with its next heartbeat (every second), and lets go of
        # the finished execution's routes at its next reconcile.
        def settled() -> bool:
            body = _metrics(client, "mwork")
            return (body["messages"]["received"], body["processors"]) == (ITEMS, 0)

        _eventually(settled, "the workers' final figures")
        work = _metrics(client, "mwork")
        assert work["messages"] == {
            "received": ITEMS,
            "completed": ITEMS - POISON,
            "failed": POISON,
            "dead_lettered": POISON,
            "retried": 0,
            "in_flight": 0,
        }
        assert work["throughput_per_second"] == pytest.approx(ITEMS / 60)
        assert work["latency_ms"]["p50"] >= WORK_MS and work["latency_ms"]["max"] >= work["latency_ms"]["p99"]
        assert (work["processors"], work["executions"], work["circuit_breakers"]) == (0, [], [])
        assert _metrics(client, "mfan")["messages"]["completed"] == 1

        broken_id = run_config(client, store_config(client, BROKEN))["execution_id"]

        def breaker_open() -> bool:
            body = _metrics(client, "mbroken")
            # Each worker runs the route of the execution once it joined it (its next reconcile).
            return body["processors"] == 2 and any(item["state"] == "open" for item in body["circuit_breakers"])

        _eventually(breaker_open, "both workers to run the route and the breaker to open")
        broken = _metrics(client, "mbroken")
        # One entry for the execution's adapter, however many workers run the route.
        [breaker] = broken["circuit_breakers"]
        assert (breaker["adapter_name"], breaker["adapter_index"], breaker["state"]) == ("fail", 0, "open")
        assert breaker["consecutive_failures"] >= 2 and breaker["opened_at"] is not None
        assert [item["execution_id"] for item in broken["executions"]] == [broken_id]
        assert broken["messages"]["retried"] >= 1

        cancelled = client.post(f"/api/v1/executions/{broken_id}/cancel")
        assert cancelled.status_code in (200, 202), cancelled.text
        assert wait_execution(client, broken_id, timeout=120)["status"] == "cancelled"

        # A worker that stops takes its figures with it.
        assert _handled(redis_url, "w2") > 0
        stopped = cluster.processes["w2"]
        stopped.send_signal(signal.SIGTERM)
        assert stopped.wait(timeout=60) == 0
        _eventually(lambda: _metrics(client, "mfan")["processors"] == 0, "processors to stop")
        remaining = _metrics(client, "mwork")["messages"]["received"]
        assert remaining < ITEMS, remaining


def test_progress_counts_the_stages_workers_run(cluster: Cluster) -> None:
    base_url = cluster.server("--no-local-worker")
    cluster.worker("w1")
    cluster.worker("w2")
    with httpx.Client(base_url=base_url, timeout=120) as client:
        execution_id = run_config(client, store_config(client, COUNTED))["execution_id"]
        with client.stream("GET", f"/api/v1/executions/{execution_id}/events", params={"timeout": 120}) as response:
            assert response.status_code == 200, response.read()
            frames = [frame for frame in read_sse(response) if "event" in frame]
        rows = client.get(f"/api/v1/executions/{execution_id}/lineage", params={"limit": 1000}).json()["entries"]

    assert frames[-2]["data"]["status"] == "completed", frames[-2]
    progress = [frame["data"] for frame in frames if frame["event"] == "execution.progress"]
    completed = [item["completed_stages"] for item in progress]
    assert completed == sorted(completed), completed
    # Under way, too: the counts grow while the workers run (not only at the end).
    assert any(0 < item["completed_stages"] and item["in_flight"] > 0 for item in progress), progress
    statuses = [row["stage_status"] for row in rows]
    assert (progress[-1]["completed_stages"], progress[-1]["failed_stages"]) == (
        statuses.count("completed"),
        statuses.count("failed"),
    )
    assert progress[-1]["failed_stages"] == POISON
