"""Real pipelines through the whole stack (server in process, memory queue, filesystem storage),
on SQLite and on PostgreSQL: fan-out, conditions, retries and dead-lettering, checked in storage,
lineage, execution status, message counts and stats.

In worker mode (`FACTFLOW_TEST_WORKERS=N`) the same pipeline runs on Redis and PostgreSQL with the
server's local worker off and N worker processes doing the work; the checks are the same."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from factflow_infra.testing.plugin import database_url, postgres_database_url, sqlite_database_url
from factflow_server.testing import (
    RunningServer,
    embedded_settings,
    postgres_lock_key,
    run_config,
    serve_in_thread,
    serve_with_workers,
    store_config,
    wait_execution,
    worker_mode,
)

__all__ = ("database_url", "postgres_database_url", "sqlite_database_url")

pytestmark = pytest.mark.slow

ITEMS = 100
FLAKY_ITEM = 7
POISON_ITEM = 13
PIPELINE = f"""
version: "1.0"
name: e2e-fan-out
error_handling: {{retry_delay_seconds: 0.05, max_retry_delay_seconds: 0.2, tolerated_failures: 1}}
routes:
  ingest:
    inbound: {{queue: e2e.ingest, concurrency: 2, prefetch: 4}}
    adapters:
      - type: split
        config: {{field: items, keep_fields: [batch]}}
      - type: set_fields
        stage: tag
        condition: {{field: item.n, operator: lt, value: 50}}
        config: {{values: {{tagged: true}}}}
    outbound: [{{queue: e2e.enrich}}]
  enrich:
    inbound: {{queue: e2e.enrich, concurrency: 8, prefetch: 16}}
    adapters:
      - type: fail
        stage: flaky
        config: {{condition: {{field: item.n, operator: eq, value: {FLAKY_ITEM}}}, times: 2}}
      - type: fail
        stage: poison
        config:
          condition: {{field: item.n, operator: eq, value: {POISON_ITEM}}}
          retryable: false
          message: poisoned item
    outbound: [{{queue: e2e.store}}]
  store:
    inbound: {{queue: e2e.store, concurrency: 8, prefetch: 16}}
    adapters:
      - type: set_fields
        storage: {{metadata_fields: [item.n]}}
        config: {{values: {{stored: true}}}}
init_message:
  route: ingest
  payload: {{batch: b1, items: {[{"n": n} for n in range(ITEMS)]}}}
"""


def _all(client: httpx.Client, path: str, items: str, **params: Any) -> list[dict[str, Any]]:
    collected: list[dict[str, Any]] = []
    while True:
        page = client.get(path, params={**params, "limit": 1000, "offset": len(collected)}).json()
        collected.extend(page[items])
        if not page["has_more"]:
            return collected


def test_fan_out_conditions_retries_and_dead_letters(database_url: str, tmp_path: Path) -> None:
    postgres = database_url.startswith("postgresql")
    serving: contextlib.AbstractContextManager[RunningServer]
    if worker_mode():
        if not postgres:
            pytest.skip("worker mode: worker processes need PostgreSQL; the postgresql variant runs")
        serving = serve_with_workers(tmp_path / "server", workers=worker_mode(), database_url=database_url)
    else:
        lock_key = postgres_lock_key(database_url) if postgres else None
        serving = serve_in_thread(embedded_settings(tmp_path / "server", database_url=database_url), lock_key=lock_key)
    with serving as server, server.client() as client:
        execution = run_config(client, store_config(client, PIPELINE.replace("'", '"')))
        execution_id = execution["execution_id"]
        result = wait_execution(client, execution_id, timeout=120)

        # Status and counts: one dead-lettered message is within `tolerated_failures: 1`.
        assert result["status"] == "completed", result
        counts = result["stats"]["message_counts"]
        assert counts == {
            "published": 1 + ITEMS + (ITEMS - 1),
            "handled": 1 + ITEMS + (ITEMS - 1),
            "in_flight": 0,
            "dead_lettered": 1,
            "tolerated_failures": 1,
        }
        detail = client.get(f"/api/v1/executions/{execution_id}").json()
        assert detail["message_counts"] == counts

        # Lineage: a row per message and adapter, parents linked, statuses as the adapters behaved.
        rows = _all(client, f"/api/v1/executions/{execution_id}/lineage", "entries")
        per_stage = Counter((row["route_id"], row["stage_name"], row["stage_status"]) for row in rows)
        assert per_stage[("ingest", "split", "completed")] == 1
        assert per_stage[("ingest", "tag", "completed")] == 50
        assert per_stage[("ingest", "tag", "skipped")] == 50
        assert per_stage[("enrich", "flaky", "completed")] == ITEMS
        assert per_stage[("enrich", "poison", "completed")] == ITEMS - 1
        assert per_stage[("enrich", "poison", "failed")] == 1
        assert per_stage[("store", "set_fields", "completed")] == ITEMS - 1
        assert sum(per_stage.values()) == len(rows) == 1 + ITEMS + 2 * ITEMS + (ITEMS - 1)
        root = detail["root_correlation_id"]
        children = {row["correlation_id"] for row in rows if row["parent_correlation_id"] == root}
        assert len(children) == ITEMS
        assert {row["correlation_id"] for row in rows if row["route_id"] == "store"} <= children
        flaky = [row for row in rows if row["stage_name"] == "flaky" and row["metadata"].get("attempts", 1) > 1]
        assert [row["metadata"]["attempts"] for row in flaky] == [3]
        (poisoned,) = [row for row in rows if row["stage_status"] == "failed"]
        assert poisoned["error_info"]["retryable"] is False
        assert poisoned["metadata"]["dead_lettered"] is True
        assert "poisoned item" in poisoned["error_info"]["message"]

        # Stats from lineage.
        stats = client.get(f"/api/v1/executions/{execution_id}/stats").json()
        assert stats["stage_counts"]["skipped"] == 50
        assert stats["stage_counts"]["failed"] == 1
        assert stats["stage_counts"]["total"] == len(rows)
        by_adapter = {(a["route_id"], a["stage_name"]): a for a in stats["adapters"]}
        assert by_adapter[("store", "set_fields")]["completed"] == ITEMS - 1

        # Storage: an object and a sidecar per message and stored stage; nothing stored for skips.
        listing = "/api/v1/storage/objects"
        stored = _all(client, listing, "objects", execution_id=execution_id, route_id="store", stage="set_fields")
        assert len(stored) == ITEMS - 1
        sidecar = client.get(f"/api/v1/storage/objects/{stored[0]['key']}/metadata").json()
        assert sidecar["kind"] == "stage_output"
        assert sidecar["execution_id"] == execution_id
        assert sidecar["route_id"] == "store"
        assert sidecar["correlation_id"] in children
        assert "n" in sidecar["custom"]
        tagged = _all(client, listing, "objects", execution_id=execution_id, route_id="ingest", stage="tag")
        assert len(tagged) == 50
        manifest = [
            obj
            for obj in _all(client, listing, "objects", execution_id=execution_id, stage="split")
            if obj["key"].endswith(".fanout.json")
        ]
        assert len(manifest) == 1
