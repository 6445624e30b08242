"""Production queue behaviour through a real server: a Redis restart mid-execution loses
nothing, and a paused route keeps its messages in Redis until it is resumed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from factflow_infra.testing import RedisServer
from factflow_infra.testing.plugin import persistent_redis
from factflow_server.testing import embedded_settings, run_config, serve_in_thread, store_config, wait_execution

__all__ = ("persistent_redis",)

pytestmark = [pytest.mark.slow, pytest.mark.redis]

ITEMS = 60
PIPELINE = f"""
version: "1.0"
name: resilience
error_handling: {{retry_delay_seconds: 0.2, max_retry_delay_seconds: 1}}
routes:
  fanout:
    inbound: {{queue: r.in}}
    adapters:
      - type: split
        config: {{field: items}}
    outbound: [{{queue: r.work}}]
  work:
    inbound: {{queue: r.work, concurrency: 4, prefetch: 8}}
    adapters:
      - type: delay
        config: {{ms: 40}}
    outbound: [{{queue: r.done}}]
  sink:
    inbound: {{queue: r.done}}
    adapters:
      - type: passthrough
init_message:
  route: fanout
  payload: {{items: {list(range(ITEMS))}}}
"""


def _wait_for(client: httpx.Client, ref: str, predicate: Any, *, within: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        detail: dict[str, Any] = client.get(f"/api/v1/executions/{ref}").json()
        if predicate(detail):
            return detail
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {within} s: {detail['message_counts']}")
        time.sleep(0.1)


def _stored_outputs(client: httpx.Client, execution_id: str, route_id: str, stage: str) -> list[str]:
    page = client.get(
        "/api/v1/storage/objects",
        params={"execution_id": execution_id, "route_id": route_id, "stage": stage, "limit": 1000},
    ).json()
    return [obj["key"] for obj in page["objects"] if not obj["key"].endswith(".fanout.json")]


def _completed_messages(client: httpx.Client, execution_id: str, route_id: str) -> set[str]:
    rows = client.get(
        "/api/v1/lineage",
        params={"execution_id": execution_id, "route_id": route_id, "status": "completed", "limit": 1000},
    ).json()["entries"]
    return {row["correlation_id"] for row in rows}


def test_redis_restart_mid_execution_loses_nothing(persistent_redis: RedisServer, tmp_path: Path) -> None:
    # The stall detector effectively off: completion must not depend on the safety net.
    settings = embedded_settings(tmp_path / "server", queue_url=persistent_redis.url, stall_timeout_seconds=600)
    with serve_in_thread(settings) as server, server.client() as client:
        execution = run_config(client, store_config(client, PIPELINE))
        execution_id = execution["execution_id"]
        _wait_for(client, execution_id, lambda d: d["message_counts"]["handled"] >= 10)

        persistent_redis.stop()
        persistent_redis.start()

        result = wait_execution(client, execution_id, timeout=180)
        assert result["status"] == "completed", result
        counts = result["stats"]["message_counts"]
        # Exactly what an undisturbed run counts: the init message and one per item, each handled once.
        assert (counts["published"], counts["handled"]) == (2 * ITEMS + 1, 2 * ITEMS + 1)
        assert counts["dead_lettered"] == 0
        assert counts["in_flight"] == 0
        assert len(_stored_outputs(client, execution_id, "sink", "passthrough")) == ITEMS
        assert len(_completed_messages(client, execution_id, "sink")) == ITEMS


def test_paused_route_keeps_its_messages_in_redis_and_drains_after_resume(
    persistent_redis: RedisServer, tmp_path: Path
) -> None:
    settings = embedded_settings(tmp_path / "server", queue_url=persistent_redis.url)
    with serve_in_thread(settings) as server, server.client() as client:
        config_id = store_config(client, PIPELINE)
        paused = client.patch("/api/v1/pipelines/sink", json={"state": "paused", "reason": "maintenance"})
        assert paused.status_code == 200, paused.text
        execution_id = run_config(client, config_id)["execution_id"]

        def sink_backlog(detail: dict[str, Any]) -> bool:
            routes = {route["route_id"]: route for route in detail["routes"]}
            return bool(routes["work"]["completed"] == ITEMS and routes["sink"]["queue_depth"] == ITEMS)

        detail = _wait_for(client, execution_id, sink_backlog, within=120)
        assert detail["status"] == "running"
        assert detail["message_counts"]["in_flight"] == ITEMS
        assert _stored_outputs(client, execution_id, "sink", "passthrough") == []

        resumed = client.patch("/api/v1/pipelines/sink", json={"state": "running"})
        assert resumed.status_code == 200, resumed.text
        result = wait_execution(client, execution_id, timeout=120)
        assert result["status"] == "completed", result
        assert len(_stored_outputs(client, execution_id, "sink", "passthrough")) == ITEMS
