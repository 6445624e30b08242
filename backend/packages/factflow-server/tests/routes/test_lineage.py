from __future__ import annotations

from typing import Any

import httpx
import pytest

from factflow_server.testing import RunningServer, assert_error, run_config, store_config, wait_execution

MISSING = "01a20000-0000-7000-8000-000000000000"


@pytest.fixture(scope="module")
def demo(factflow_server: RunningServer, demo_yaml: str) -> dict[str, Any]:
    with factflow_server.client() as client:
        execution = run_config(client, store_config(client, demo_yaml, name="lineage-demo"), tag="lineage-demo")
        wait_execution(client, execution["id"])
        detail: dict[str, Any] = client.get(f"/api/v1/executions/{execution['id']}").json()
        return detail


def test_list_with_filters_and_sorting(client: httpx.Client, demo: dict[str, Any]) -> None:
    rows = client.get("/api/v1/lineage", params={"execution_id": "lineage-demo"}).json()
    assert rows["total"] == 14 and rows["has_more"] is False
    started = [entry["started_at"] for entry in rows["entries"]]
    assert started == sorted(started)
    entry = rows["entries"][0]
    assert set(entry) == {
        "id",
        "correlation_id",
        "parent_correlation_id",
        "execution_id",
        "route_id",
        "adapter_name",
        "adapter_index",
        "stage_name",
        "stage_status",
        "input_hash",
        "output_hash",
        "started_at",
        "completed_at",
        "duration_ms",
        "error_info",
        "replay_batch_id",
        "batch_id",
        "delivery_count",
        "storage_key",
        "metadata",
    }
    skipped = client.get(
        "/api/v1/lineage", params={"execution_id": demo["id"], "status": "skipped", "stage_name": "bulk_flag"}
    ).json()
    assert skipped["total"] == 3
    roots = client.get("/api/v1/lineage", params={"execution_id": demo["id"], "is_root": "true"}).json()
    assert {entry["correlation_id"] for entry in roots["entries"]} == {demo["root_correlation_id"]}
    children = client.get(
        "/api/v1/lineage", params={"parent_correlation_id": demo["root_correlation_id"], "route_id": "pricing"}
    ).json()
    assert children["total"] == 10  # 5 items × (delay, bulk_flag)
    slowest = client.get(
        "/api/v1/lineage",
        params={"execution_id": demo["id"], "sort_by": "duration_ms", "sort_order": "desc", "limit": 2},
    ).json()
    assert slowest["has_more"] is True and slowest["entries"][0]["adapter_name"] == "delay"
    assert_error(client.get("/api/v1/lineage", params={"execution_id": "nope"}), 404, "execution_not_found")
    assert_error(client.get("/api/v1/lineage", params={"status": "done"}), 422, "request_validation_error")
    assert_error(client.get("/api/v1/lineage", params={"sort_by": "id"}), 422, "request_validation_error")
    assert_error(client.get("/api/v1/lineage", params={"is_root": "yes"}), 422, "request_validation_error")


def test_stats_failures_and_batches(client: httpx.Client, demo: dict[str, Any]) -> None:
    stats = client.get("/api/v1/lineage/stats", params={"execution_id": "lineage-demo"}).json()
    assert (stats["execution_id"], stats["total"]) == (demo["id"], 14)
    assert [row["route_id"] for row in stats["rows"]] == ["intake", "intake", "pricing", "pricing", "review"]
    assert_error(client.get("/api/v1/lineage/stats"), 422, "request_validation_error")
    assert_error(client.get("/api/v1/lineage/stats", params={"execution_id": MISSING}), 404, "execution_not_found")
    failures = client.get("/api/v1/lineage/failures", params={"execution_id": demo["id"]}).json()
    assert failures == {"total": 0, "limit": 100, "offset": 0, "has_more": False, "next_cursor": None, "entries": []}
    assert_error(client.get(f"/api/v1/lineage/batch/{MISSING}"), 404, "batch_not_found")


def test_message_chain_and_children(client: httpx.Client, demo: dict[str, Any]) -> None:
    root = demo["root_correlation_id"]
    message = client.get(f"/api/v1/lineage/{root}").json()
    assert (message["correlation_id"], message["depth"], message["status"]) == (root, 0, "completed")
    assert message["requested_entry_id"] is None
    assert [entry["stage_name"] for entry in message["entries"]] == ["set_fields", "split"]
    by_row = client.get(f"/api/v1/lineage/{message['entries'][1]['id']}").json()
    assert by_row["correlation_id"] == root and by_row["requested_entry_id"] == message["entries"][1]["id"]

    children = client.get(f"/api/v1/lineage/{root}/children", params={"limit": 2}).json()
    assert (children["correlation_id"], children["total"], children["has_more"]) == (root, 5, True)
    assert all(child["depth"] == 1 and child["parent_correlation_id"] == root for child in children["children"])

    bulk = client.get("/api/v1/lineage", params={"execution_id": demo["id"], "route_id": "review", "limit": 1}).json()[
        "entries"
    ][0]["correlation_id"]
    chain = client.get(f"/api/v1/lineage/{bulk}/chain").json()
    assert (chain["correlation_id"], chain["root_correlation_id"], chain["truncated"]) == (bulk, root, False)
    assert [ancestor["correlation_id"] for ancestor in chain["ancestors"]] == [root]
    assert chain["ancestors"][0]["depth"] == -1
    assert chain["message"]["correlation_id"] == bulk
    assert {entry["route_id"] for entry in chain["message"]["entries"]} == {"pricing", "review"}
    assert chain["descendants"] == []
    down = client.get(f"/api/v1/lineage/{root}/chain", params={"max_depth": 1, "max_messages": 3}).json()
    assert len(down["descendants"]) == 2 and down["truncated"] is True

    assert_error(client.get(f"/api/v1/lineage/{MISSING}"), 404, "lineage_not_found")
    assert_error(client.get(f"/api/v1/lineage/{MISSING}/chain"), 404, "lineage_not_found")
    assert_error(client.get(f"/api/v1/lineage/{MISSING}/children"), 404, "lineage_not_found")
    assert_error(client.get(f"/api/v1/lineage/{root}/chain", params={"max_depth": 0}), 422, "request_validation_error")
