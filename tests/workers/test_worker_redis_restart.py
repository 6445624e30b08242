"""Redis restarted without persistence while two workers run a shared execution: it completes exactly.

The server runs no route itself (`--no-local-worker`); two `factflow-server worker` processes share
the routes of a fan-out pipeline (a slow stage, a retried message and a dead letter). The test's own
`redis-server` (not the shared one) is stopped and started again mid-run, so every stream, consumer
group, dead-letter queue, dedupe record and the execution's shared mark are gone. The leader notices
the lost mark, lets the workers settle (the deliveries they ran end and their lineage is written),
re-seeds what lineage and storage show unfinished, and the execution completes with exact counts:
one completed lineage row per message and stage, one stored output per message.
"""

from __future__ import annotations

import time

import httpx
import pytest

from factflow_infra.testing import RedisServer
from factflow_infra.testing.plugin import restartable_redis
from factflow_server.testing import run_config, store_config, wait_execution

from .conftest import Cluster
from .test_worker_processes import _all, _completed_once, _set_paused, _wait_until_joined, fan_out_pipeline

__all__ = ("restartable_redis",)

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

ITEMS = 120
PIPELINE = fan_out_pipeline(
    "workers-redis-restart",
    prefix="r",
    items=ITEMS,
    delay_ms=400,
    enrich=", concurrency: 4, prefetch: 8",
    store=", concurrency: 4, prefetch: 8",
)
PUBLISHED = 1 + ITEMS + (ITEMS - 1)
"""The init message, one child per item, and every item but the poisoned one onward to `store`."""


def _handled(client: httpx.Client, execution_id: str) -> int:
    response = client.get(f"/api/v1/executions/{execution_id}", timeout=5)
    assert response.status_code == 200, response.text
    count: int = response.json()["message_counts"]["handled"]
    return count


def test_a_redis_restart_without_persistence_mid_run_and_the_shared_execution_completes_exactly(
    restartable_redis: RedisServer, cluster: Cluster
) -> None:
    cluster.env = {**cluster.env, "FACTFLOW_QUEUE_URL": restartable_redis.url}
    base_url = cluster.server("--no-local-worker")
    cluster.worker("w1")
    cluster.worker("w2")
    with httpx.Client(base_url=base_url, timeout=30) as client:
        config_id = store_config(client, PIPELINE)
        _set_paused(client, "enrich", True)  # both workers run the routes before anything is handed out
        execution_id = run_config(client, config_id)["execution_id"]
        _wait_until_joined(restartable_redis.url, execution_id, "w1", "w2")
        _set_paused(client, "enrich", False)

        deadline = time.monotonic() + 120
        while (handled_at_restart := _handled(client, execution_id)) < PUBLISHED * 0.3:
            assert time.monotonic() < deadline, "the execution made no progress"
            time.sleep(0.05)
        restartable_redis.restart()  # every stream, group, DLQ, dedupe record and mark is gone

        result = wait_execution(client, execution_id, timeout=240)
        detail = client.get(f"/api/v1/executions/{execution_id}").json()
        rows = _all(client, f"/api/v1/executions/{execution_id}/lineage", "entries")
        stored = _all(client, "/api/v1/storage/objects", "objects", execution_id=execution_id, route_id="store")

    assert handled_at_restart < PUBLISHED * 0.6, handled_at_restart  # the restart came mid-run
    assert "the queue lost its state" in cluster.processes["server"].output()
    assert result["status"] == "completed", result
    counts = detail["message_counts"]
    assert counts["published"] == counts["handled"] == PUBLISHED, counts
    assert counts["in_flight"] == 0
    assert counts["dead_lettered"] == 1
    per_stage = _completed_once(rows)  # a stage that completed never ran again
    assert per_stage[("ingest", "split")] == 1
    assert per_stage[("enrich", "delay")] == ITEMS
    assert per_stage[("enrich", "flaky")] == ITEMS
    assert per_stage[("enrich", "poison")] == ITEMS - 1
    assert per_stage[("store", "set_fields")] == ITEMS - 1
    assert not [row for row in rows if row["stage_status"] in ("pending", "processing")]
    assert len([entry for entry in stored if not entry["key"].endswith(".meta.json")]) == ITEMS - 1
    assert result["stats"]["message_counts"] == counts
    assert result["stats"]["stage_counts"]["total"] == len(rows), result["stats"]
