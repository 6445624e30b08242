"""A worker started after an execution began joins it: the server, running it in process with its
local worker, switches it to shared counts mid-run, and the execution completes exactly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from factflow_infra.workers import RedisWorkerRegistry, WorkerRecord
from factflow_server.testing import run_config, slow_fan_out_pipeline, store_config, wait_execution

from .conftest import Cluster
from .test_worker_processes import _all, _completed_once, _set_paused, _wait_until_joined

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

ITEMS = 200
LONG = slow_fan_out_pipeline(
    "workers-promotion", prefix="p", items=ITEMS, delay_ms=100, work=", concurrency: 2, prefetch: 2"
)


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
        rows = _all(client, f"/api/v1/executions/{execution_id}/lineage", "entries")
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
    completed = _completed_once(rows)  # no stage re-ran
    assert completed == {
        ("fanout", "split"): 1,
        ("work", "delay"): ITEMS,
        ("work", "set_fields"): ITEMS,
        ("sink", "passthrough"): ITEMS,
    }
    assert len(rows) == completed.total()  # nothing failed, nothing left open
    # The final stats were computed after the late worker flushed its lineage rows.
    assert result["stats"]["message_counts"] == counts
    assert result["stats"]["stage_counts"]["total"] == len(rows), result["stats"]
    # The late worker took a share; with the server's local worker, every delivery was handled once.
    assert handled_by.get("late", 0) > 0, handled_by
    assert sum(handled_by.values()) == counts["handled"], handled_by
