"""One pipeline on several processes: a server that runs no routes itself (`--no-local-worker`) and
`factflow-server worker` processes sharing the routes' Redis consumer groups, on PostgreSQL and
Redis — exact counts, a worker killed mid-run, and routes that wait for their pool's worker."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import redis

from factflow_infra.workers import RedisWorkerRegistry, WorkerRecord
from factflow_server.testing import run_config, slow_fan_out_pipeline, store_config, wait_execution

from .conftest import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

ITEMS = 100
FLAKY_ITEM = 7
POISON_ITEM = 13


def fan_out_pipeline(
    name: str, *, prefix: str, items: int, delay_ms: int, ingest: str = "", enrich: str = "", store: str = ""
) -> str:
    """The fan-out pipeline of these tests: `split` → a slow, a flaky and a poison stage → `set_fields`.

    `ingest`, `enrich` and `store` add inbound options (e.g. `, concurrency: 4, prefetch: 8`).
    """
    return f"""
version: "1.0"
name: {name}
error_handling: {{retry_delay_seconds: 0.05, max_retry_delay_seconds: 0.2, tolerated_failures: 1}}
routes:
  ingest:
    inbound: {{queue: {prefix}.ingest{ingest}}}
    adapters:
      - type: split
        config: {{field: items, keep_fields: [batch]}}
    outbound: [{{queue: {prefix}.enrich}}]
  enrich:
    inbound: {{queue: {prefix}.enrich{enrich}}}
    adapters:
      - type: delay
        config: {{ms: {delay_ms}}}
      - type: fail
        stage: flaky
        config: {{condition: {{field: item.n, operator: eq, value: {FLAKY_ITEM}}}, times: 2}}
      - type: fail
        stage: poison
        config:
          condition: {{field: item.n, operator: eq, value: {POISON_ITEM}}}
          retryable: false
          message: poisoned item
    outbound: [{{queue: {prefix}.store}}]
  store:
    inbound: {{queue: {prefix}.store{store}}}
    adapters:
      - type: set_fields
        config: {{values: {{stored: true}}}}
init_message:
  route: ingest
  payload: {{batch: b1, items: {[{"n": n} for n in range(items)]}}}
"""


FAN_OUT = fan_out_pipeline(
    "workers-fan-out",
    prefix="w",
    items=ITEMS,
    delay_ms=100,
    ingest=", concurrency: 2, prefetch: 4",
    enrich=", concurrency: 8, prefetch: 16",
    store=", concurrency: 8, prefetch: 16",
)

SLOW_ITEMS = 40
SLOW = slow_fan_out_pipeline(
    "workers-slow", prefix="s", items=SLOW_ITEMS, delay_ms=1000, work=", concurrency: 4, prefetch: 4, pool: POOL"
)


def _all(client: httpx.Client, path: str, items: str, **params: Any) -> list[dict[str, Any]]:
    collected: list[dict[str, Any]] = []
    while True:
        page = client.get(path, params={**params, "limit": 1000, "offset": len(collected)}).json()
        collected.extend(page[items])
        if not page["has_more"]:
            return collected


def _completed_once(rows: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Completed rows per (route, stage), asserting that no (route, stage, message) completed twice."""
    completed = Counter(
        (row["route_id"], row["stage_name"], row["correlation_id"])
        for row in rows
        if row["stage_status"] == "completed"
    )
    assert set(completed.values()) == {1}, [key for key, count in completed.items() if count > 1]
    return Counter((route, stage) for route, stage, _ in completed)


def _worker(redis_url: str, worker_id: str) -> WorkerRecord | None:
    async def read() -> WorkerRecord | None:
        registry = RedisWorkerRegistry.from_url(redis_url)
        try:
            return await registry.get(worker_id)
        finally:
            await registry.close()

    return asyncio.run(read())


def _worker_handled(redis_url: str, worker_id: str) -> int:
    record = _worker(redis_url, worker_id)
    return record.handled if record is not None else 0


def _wait_until_joined(redis_url: str, execution_id: str, *worker_ids: str) -> None:
    deadline = time.monotonic() + 60
    for worker_id in worker_ids:
        while True:
            record = _worker(redis_url, worker_id)
            if record is not None and any(route.execution_id == execution_id for route in record.routes):
                break
            assert time.monotonic() < deadline, f"worker {worker_id} never took up {execution_id}"
            time.sleep(0.2)


def _pending_of(redis_url: str, execution_id: str, consumer: str) -> int:
    """Unacked deliveries `consumer` holds in the `work` route's group."""
    with redis.Redis.from_url(redis_url) as client:
        summary = client.xpending(f"factflow:{{{execution_id}}}:s.work", "work")
    return sum(int(row["pending"]) for row in summary.get("consumers") or [] if row["name"] == consumer.encode())


def _set_paused(client: httpx.Client, route_id: str, paused: bool) -> None:
    response = client.patch(f"/api/v1/pipelines/{route_id}", json={"state": "paused" if paused else "running"})
    assert response.status_code == 200, response.text


def test_two_workers_run_the_fan_out_pipeline_with_exact_counts(cluster: Cluster, redis_url: str) -> None:
    base_url = cluster.server("--no-local-worker")
    cluster.worker("w1")
    cluster.worker("w2")
    with httpx.Client(base_url=base_url, timeout=30) as client:
        config_id = store_config(client, FAN_OUT)
        # Held until both workers run the execution's routes, so both take part (a pause set in
        # PostgreSQL reaches workers that start afterwards, too).
        _set_paused(client, "enrich", True)
        execution_id = run_config(client, config_id)["execution_id"]
        _wait_until_joined(redis_url, execution_id, "w1", "w2")
        _set_paused(client, "enrich", False)
        result = wait_execution(client, execution_id, timeout=240)
        detail = client.get(f"/api/v1/executions/{execution_id}").json()
        rows = _all(client, f"/api/v1/executions/{execution_id}/lineage", "entries")
        stored = _all(client, "/api/v1/storage/objects", "objects", execution_id=execution_id, route_id="store")
    expected_handled = detail["message_counts"]["handled"]
    # A worker's own `handled` reaches the registry with its next heartbeat (every second).
    deadline = time.monotonic() + 15
    while True:
        handled_by = {worker_id: _worker_handled(redis_url, worker_id) for worker_id in ("w1", "w2")}
        if sum(handled_by.values()) >= expected_handled or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert result["status"] == "completed", result
    counts = detail["message_counts"]
    # The init message, one child per item, and every item but the poisoned one onward to `store`.
    assert counts["published"] == counts["handled"] == 1 + ITEMS + (ITEMS - 1), counts
    assert counts["in_flight"] == 0
    assert counts["dead_lettered"] == 1
    per_stage = _completed_once(rows)
    assert per_stage[("ingest", "split")] == 1
    assert per_stage[("enrich", "delay")] == ITEMS
    assert per_stage[("enrich", "flaky")] == ITEMS
    assert per_stage[("enrich", "poison")] == ITEMS - 1
    assert per_stage[("store", "set_fields")] == ITEMS - 1
    assert len([entry for entry in stored if not entry["key"].endswith(".meta.json")]) == ITEMS - 1
    # The final stats were computed after every worker flushed its lineage rows.
    assert result["stats"]["message_counts"] == counts
    assert result["stats"]["stage_counts"]["total"] == len(rows), result["stats"]
    assert result["stats"]["stage_counts"]["failed"] == 1
    # Both workers took part: the server ran no route itself.
    assert all(handled > 0 for handled in handled_by.values()), handled_by
    assert sum(handled_by.values()) == counts["handled"], handled_by


def test_a_killed_worker_s_messages_are_claimed_and_the_execution_completes_exactly(
    cluster: Cluster, redis_url: str
) -> None:
    base_url = cluster.server("--no-local-worker")
    doomed = cluster.worker("doomed")
    cluster.worker("survivor", log_level="INFO")
    with httpx.Client(base_url=base_url, timeout=30) as client:
        config_id = store_config(client, SLOW.replace("POOL", "default"))
        _set_paused(client, "work", True)  # both workers take part before anything is handed out
        execution_id = run_config(client, config_id)["execution_id"]
        _wait_until_joined(redis_url, execution_id, "doomed", "survivor")
        _set_paused(client, "work", False)
        deadline = time.monotonic() + 120
        # Killed while it holds unacked deliveries of `work` (each takes a second).
        while _pending_of(redis_url, execution_id, "doomed") == 0:
            assert time.monotonic() < deadline, "the doomed worker took no delivery"
            time.sleep(0.05)
        doomed.process.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
        killed_at = time.monotonic()
        result = wait_execution(client, execution_id, timeout=240)
        finished_after = time.monotonic() - killed_at
        detail = client.get(f"/api/v1/executions/{execution_id}").json()
        rows = _all(client, f"/api/v1/executions/{execution_id}/lineage", "entries")
        sink = _all(client, "/api/v1/storage/objects", "objects", execution_id=execution_id, route_id="sink")

    assert result["status"] == "completed", result
    counts = detail["message_counts"]
    assert counts["published"] == counts["handled"] == 1 + 2 * SLOW_ITEMS, counts
    assert counts["dead_lettered"] == 0
    per_stage = _completed_once(rows)  # a stage that completed never ran again
    assert per_stage == {
        ("fanout", "split"): 1,
        ("work", "delay"): SLOW_ITEMS,
        ("work", "set_fields"): SLOW_ITEMS,
        ("sink", "passthrough"): SLOW_ITEMS,
    }
    assert len([entry for entry in sink if not entry["key"].endswith(".meta.json")]) == SLOW_ITEMS
    survivor = cluster.processes["survivor"]
    survivor.drain()
    # The dead worker's unacked entries went to the survivor (at subscribe, or once idle past the lease).
    assert any("Redelivering" in line for line in survivor.lines), survivor.output()
    assert finished_after < 120


def test_a_route_of_a_pool_without_workers_waits_until_one_starts(cluster: Cluster) -> None:
    base_url = cluster.server()  # the local worker serves `default`
    with httpx.Client(base_url=base_url, timeout=30) as client:
        execution_id = run_config(client, store_config(client, SLOW.replace("POOL", "gpu")))["execution_id"]
        waited = client.post(f"/api/v1/executions/{execution_id}/wait", json={"timeout": 6}, timeout=40).json()
        detail = client.get(f"/api/v1/executions/{execution_id}").json()
        assert waited["completed"] is False and detail["status"] == "running", waited
        # The fan-out ran here; its children wait in the `gpu` route's queue, nothing failed.
        assert detail["message_counts"]["handled"] == 1, detail["message_counts"]
        assert detail["message_counts"]["in_flight"] == SLOW_ITEMS
        assert detail["message_counts"]["dead_lettered"] == 0

        cluster.worker("gpu-1", "--pool", "gpu")
        result = wait_execution(client, execution_id, timeout=240)
        detail = client.get(f"/api/v1/executions/{execution_id}").json()
        rows = _all(client, f"/api/v1/executions/{execution_id}/lineage", "entries")

    assert result["status"] == "completed", result
    assert detail["message_counts"]["handled"] == 1 + 2 * SLOW_ITEMS
    assert _completed_once(rows)[("work", "delay")] == SLOW_ITEMS


def _execution_handled(client: httpx.Client, execution_id: str) -> int:
    counts: dict[str, int] = client.get(f"/api/v1/executions/{execution_id}").json()["message_counts"]
    return counts["handled"]


def test_a_pause_set_while_no_worker_ran_holds_and_a_cancel_stops_the_workers_routes(
    cluster: Cluster, redis_url: str
) -> None:
    base_url = cluster.server("--no-local-worker")
    first = cluster.worker("first")
    with httpx.Client(base_url=base_url, timeout=30) as client:
        config_id = store_config(client, SLOW.replace("POOL", "default"))
        execution_id = run_config(client, config_id)["execution_id"]
        deadline = time.monotonic() + 120
        while _execution_handled(client, execution_id) < 5:
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.1)
        # A graceful stop: running invocations finish, the worker leaves the registry.
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
        assert _worker(redis_url, "first") is None
        _set_paused(client, "work", True)  # while no worker runs

        cluster.worker("second")
        _wait_until_joined(redis_url, execution_id, "second")
        held_at = _execution_handled(client, execution_id)
        time.sleep(3)  # a few reconcile periods: the stored pause holds on the returning worker
        assert _execution_handled(client, execution_id) == held_at
        assert client.get(f"/api/v1/executions/{execution_id}").json()["status"] == "running"

        _set_paused(client, "work", False)
        result = wait_execution(client, execution_id, timeout=240)
        assert result["status"] == "completed", result
        detail = client.get(f"/api/v1/executions/{execution_id}").json()
        assert detail["message_counts"]["handled"] == 1 + 2 * SLOW_ITEMS
        rows = _all(client, f"/api/v1/executions/{execution_id}/lineage", "entries")
        assert _completed_once(rows)[("sink", "passthrough")] == SLOW_ITEMS

        # A cancel reaches the worker through PostgreSQL: it lets go of the execution's routes.
        cancelled_id = run_config(client, config_id)["execution_id"]
        _wait_until_joined(redis_url, cancelled_id, "second")
        response = client.post(f"/api/v1/executions/{cancelled_id}/cancel")
        assert response.status_code in (200, 202), response.text
        result = wait_execution(client, cancelled_id, timeout=120)
        assert result["status"] == "cancelled", result
        # The worker that let go of the cancelled routes still answered the leader's lineage flush.
        assert "did not flush lineage" not in cluster.processes["server"].output()
        deadline = time.monotonic() + 30
        while True:
            record = _worker(redis_url, "second")
            assert record is not None
            if not any(route.execution_id == cancelled_id for route in record.routes):
                break
            assert time.monotonic() < deadline, "the worker kept running a cancelled execution"
            time.sleep(0.2)
