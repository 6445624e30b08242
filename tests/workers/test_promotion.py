"""A worker started after an execution began joins it: the server, running it in process with its
local worker, switches it to shared counts mid-run, and the execution completes exactly."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from factflow_infra.workers import RedisWorkerRegistry, WorkerRecord
from factflow_server.testing import run_config, store_config, wait_execution

from .conftest import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

ITEMS = 200
LONG = f"""
version: "1.0"
name: workers-promotion
routes:
  fanout:
    inbound: {{queue: p.in}}
    adapters:
      - type: split
        config: {{field: items}}
    outbound: [{{queue: p.work}}]
  work:
    inbound: {{queue: p.work, concurrency: 2, prefetch: 2}}
    adapters:
      - type: delay
        config: {{ms: 100}}
      - type: set_fields
        config: {{values: {{worked: true}}}}
    outbound: [{{queue: p.done}}]
  sink:
    inbound: {{queue: p.done}}
    adapters:
      - type: passthrough
init_message:
  route: fanout
  payload: {{items: {list(range(ITEMS))}}}
"""


def _records(redis_url: str) -> list[WorkerRecord]:
    async def read() -> list[WorkerRecord]:
        registry = RedisWorkerRegistry.from_url(redis_url)
        try:
            return await registry.list()
        finally:
            await registry.close()

    return asyncio.run(read())


def _handled_by(redis_url: str) -> dict[str, int]:
    return {record.worker_id: record.handled for record in _records(redis_url)}


def _counts(client: httpx.Client, execution_id: str) -> dict[str, Any]:
    detail: dict[str, Any] = client.get(f"/api/v1/executions/{execution_id}").json()
    return detail


def _lineage(client: httpx.Client, execution_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = client.get(
            f"/api/v1/executions/{execution_id}/lineage", params={"limit": 1000, "offset": len(rows)}
        ).json()
        rows.extend(page["entries"])
        if not page["has_more"]:
            return rows


def _set_paused(client: httpx.Client, route_id: str, paused: bool) -> None:
    response = client.patch(f"/api/v1/pipelines/{route_id}", json={"state": "paused" if paused else "running"})
    assert response.status_code == 200, response.text


def _wait_until_joined(redis_url: str, execution_id: str, worker_id: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        record = next((record for record in _records(redis_url) if record.worker_id == worker_id), None)
        if record is not None and any(route.execution_id == execution_id for route in record.routes):
            return
        assert time.monotonic() < deadline, f"worker {worker_id} never joined {execution_id}"
        time.sleep(0.1)


def test_a_worker_started_mid_run_takes_a_share_of_an_in_process_execution(cluster: Cluster, redis_url: str) -> None:
    base_url = cluster.server()  # with its local worker: the execution starts in process
    with httpx.Client(base_url=base_url, timeout=30) as client:
        execution_id = run_config(client, store_config(client, LONG))["execution_id"]
        deadline = time.monotonic() + 120
        while _counts(client, execution_id)["message_counts"]["handled"] < 10:
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.1)
        # `work` holds still while the worker process starts (that takes seconds on a busy
        # machine), so the execution is still mid-run when it joins; the pause reaches it too.
        _set_paused(client, "work", True)
        detail = _counts(client, execution_id)
        assert detail["status"] == "running"
        assert detail["message_counts"]["handled"] < ITEMS, detail["message_counts"]

        cluster.worker("late")
        _wait_until_joined(redis_url, execution_id, "late")  # the server shared the execution
        _set_paused(client, "work", False)
        result = wait_execution(client, execution_id, timeout=240)
        detail = _counts(client, execution_id)
        rows = _lineage(client, execution_id)
    counts = detail["message_counts"]
    # Each process's own `handled` reaches the registry with its next heartbeat (every second).
    deadline = time.monotonic() + 15
    while True:
        handled_by = _handled_by(redis_url)
        if sum(handled_by.values()) >= counts["handled"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert result["status"] == "completed", result
    assert counts["published"] == counts["handled"] == 1 + 2 * ITEMS, counts
    assert (counts["in_flight"], counts["dead_lettered"]) == (0, 0), counts
    completed = Counter(
        (row["route_id"], row["stage_name"], row["correlation_id"])
        for row in rows
        if row["stage_status"] == "completed"
    )
    assert set(completed.values()) == {1}, [key for key, times in completed.items() if times > 1]  # no stage re-ran
    assert Counter((route, stage) for route, stage, _ in completed) == {
        ("fanout", "split"): 1,
        ("work", "delay"): ITEMS,
        ("work", "set_fields"): ITEMS,
        ("sink", "passthrough"): ITEMS,
    }
    assert len(rows) == len(completed)  # nothing failed, nothing left open
    # The final stats were computed after the late worker flushed its lineage rows.
    assert result["stats"]["message_counts"] == counts
    assert result["stats"]["stage_counts"]["total"] == len(rows), result["stats"]
    # The late worker took a share; with the server's local worker, every delivery was handled once.
    assert handled_by.get("late", 0) > 0, handled_by
    assert sum(handled_by.values()) == counts["handled"], handled_by
