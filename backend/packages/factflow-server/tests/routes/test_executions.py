from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy

from factflow_server.testing import RunningServer, assert_error, run_config, store_config, wait_execution

MISSING = "01a20000-0000-7000-8000-000000000000"
EXECUTION_KEYS = {
    "id",
    "execution_id",
    "config_id",
    "config_name",
    "config_version",
    "status",
    "source",
    "tag",
    "parent_execution_id",
    "replay_batch_id",
    "replay_source",
    "started_at",
    "completed_at",
    "duration_ms",
    "error_info",
}


@pytest.fixture(scope="module")
def finished(factflow_server: RunningServer, demo_yaml: str) -> dict[str, Any]:
    """One completed demo execution tagged `demo-done`."""
    with factflow_server.client() as client:
        config_id = store_config(client, demo_yaml, name="executions-demo")
        execution = run_config(client, config_id, tag="demo-done")
        wait_execution(client, execution["id"])
        return {"config_id": config_id, **execution}


@pytest.fixture
def slow(client: httpx.Client, slow_yaml: str) -> Iterator[dict[str, Any]]:
    """A running execution of the slow pipeline; cancelled afterwards."""
    execution = run_config(client, store_config(client, slow_yaml))
    yield execution
    client.post(f"/api/v1/executions/{execution['id']}/cancel")
    wait_execution(client, execution["id"])


def test_start_with_the_body_form(client: httpx.Client, finished: dict[str, Any]) -> None:
    response = client.post(
        "/api/v1/executions", json={"config_id": finished["config_id"], "tag": "e1-body", "metadata": {"a": 1}}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == EXECUTION_KEYS
    assert response.headers["location"] == f"/api/v1/executions/{body['id']}"
    assert (body["tag"], body["source"], body["status"]) == ("e1-body", "api", "running")
    wait_execution(client, body["id"])


def test_start_errors(client: httpx.Client, finished: dict[str, Any]) -> None:
    assert_error(client.post("/api/v1/executions", json={"config_id": MISSING}), 404, "config_not_found")
    assert_error(client.post("/api/v1/executions", json={"config_id": "nope"}), 422, "request_validation_error")
    assert_error(client.post("/api/v1/executions", json={}), 422, "request_validation_error")
    uuid_tag = {"config_id": finished["config_id"], "tag": MISSING}
    assert_error(client.post("/api/v1/executions", json=uuid_tag), 422, "request_validation_error")
    headers = {"Content-Type": "application/json"}
    for body in (
        f'{{"config_id": "{finished["config_id"]}", "metadata": {{"x": NaN}}}}',
        f'{{"config_id": "{finished["config_id"]}", "init_payload_overrides": {{"x": Infinity}}}}',
    ):
        response = client.post("/api/v1/executions", content=body, headers=headers)
        assert_error(response, 422, "request_validation_error")
    assert_error(
        client.post("/api/v1/executions", json={"config_id": finished["config_id"], "trigger_context": {}}),
        422,
        "request_validation_error",
    )


def test_get_by_id_and_by_tag(client: httpx.Client, finished: dict[str, Any]) -> None:
    by_id = client.get(f"/api/v1/executions/{finished['id']}").json()
    by_tag = client.get("/api/v1/executions/demo-done").json()
    assert by_id == by_tag
    assert by_id["status"] == "completed"
    assert by_id["completed_at"].endswith("Z") and by_id["duration_ms"] > 0
    assert by_id["message_counts"] == {
        "published": 8,
        "handled": 8,
        "in_flight": 0,
        "dead_lettered": 0,
        "tolerated_failures": 0,
    }
    snapshot = by_id["config_snapshot"]
    assert {"config_yaml", "config", "config_hash", "config_version", "config_name", "captured_at"} <= set(snapshot)
    assert by_id["root_correlation_id"] is not None
    assert [route["route_id"] for route in by_id["routes"]] == ["intake", "pricing", "review"]
    assert by_id["cancel_requested"] is False and by_id["recovery_count"] == 0 and by_id["replay"] is None
    assert_error(client.get(f"/api/v1/executions/{MISSING}"), 404, "execution_not_found")
    assert_error(client.get("/api/v1/executions/no-such-tag"), 404, "execution_not_found")


def test_list_filters(client: httpx.Client, finished: dict[str, Any]) -> None:
    tagged = client.get("/api/v1/executions", params={"tag": "demo-done"}).json()
    assert [item["id"] for item in tagged["executions"]] == [finished["id"]]
    completed = client.get("/api/v1/executions", params={"status": "completed", "limit": 1000}).json()
    assert all(item["status"] == "completed" for item in completed["executions"])
    assert finished["id"] in {item["id"] for item in completed["executions"]}
    by_config = client.get("/api/v1/executions", params={"config_id": finished["config_id"]}).json()
    assert {item["config_id"] for item in by_config["executions"]} == {finished["config_id"]}
    newest_first = client.get("/api/v1/executions", params={"limit": 1000}).json()["executions"]
    started = [item["started_at"] for item in newest_first]
    assert started == sorted(started, reverse=True)
    oldest_first = client.get("/api/v1/executions", params={"sort_order": "asc", "limit": 1000}).json()
    assert [item["id"] for item in oldest_first["executions"]] == [item["id"] for item in newest_first][::-1]
    window = client.get(
        "/api/v1/executions",
        params={"started_after": finished["started_at"], "started_before": "2999-01-01T00:00:00+02:00"},
    ).json()
    assert finished["id"] in {item["id"] for item in window["executions"]}
    assert client.get("/api/v1/executions", params={"source": "replay"}).json()["total"] == 0
    assert_error(
        client.get("/api/v1/executions", params={"parent_execution_id": "nope-tag"}), 404, "execution_not_found"
    )
    assert_error(client.get("/api/v1/executions", params={"status": "cancelling"}), 422, "request_validation_error")
    assert_error(
        client.get("/api/v1/executions", params={"started_after": "2025-01-01T00:00:00"}),
        422,
        "request_validation_error",
    )


def test_dag_from_the_snapshot(client: httpx.Client, finished: dict[str, Any]) -> None:
    dag = client.get("/api/v1/executions/demo-done/dag").json()
    assert (dag["execution_id"], dag["init_route"], dag["init_queue"]) == (finished["id"], "intake", "demo.orders")
    assert [node["route_id"] for node in dag["nodes"]] == ["intake", "pricing", "review"]
    pricing = dag["nodes"][1]
    assert pricing["adapters"][1] == {
        "index": 1,
        "type": "set_fields",
        "stage": "bulk_flag",
        "condition": {"field": "item.qty", "operator": "gte", "value": 10},
    }
    assert dag["nodes"][2]["is_terminal"] is True and dag["nodes"][0]["is_init_route"] is True
    assert [(edge["from_route"], edge["to_route"], edge["queue"]) for edge in dag["edges"]] == [
        ("intake", "pricing", "demo.items"),
        ("pricing", "review", "demo.review"),
    ]


def test_stats_routes_and_lineage(client: httpx.Client, finished: dict[str, Any]) -> None:
    stats = client.get("/api/v1/executions/demo-done/stats").json()
    assert stats["status"] == "completed"
    assert stats["stage_counts"] == {
        "total": 14,
        "pending": 0,
        "processing": 0,
        "completed": 11,
        "failed": 0,
        "skipped": 3,
        "cancelled": 0,
    }
    assert stats["success_rate"] == 1.0
    assert [(row["route_id"], row["stage_name"]) for row in stats["adapters"]] == [
        ("intake", "set_fields"),
        ("intake", "split"),
        ("pricing", "delay"),
        ("pricing", "bulk_flag"),
        ("review", "set_fields"),
    ]
    routes = client.get("/api/v1/executions/demo-done/routes").json()
    assert routes["execution_id"] == finished["id"]
    pricing = routes["routes"][1]
    assert (pricing["total_messages"], pricing["completed"], pricing["processor_state"]) == (5, 5, "stopped")
    assert pricing["scoped_queue"] == f"factflow:{{{finished['id']}}}:demo.items"
    page = client.get("/api/v1/executions/demo-done/lineage", params={"limit": 5}).json()
    assert (page["execution_id"], page["total"], page["limit"], page["has_more"]) == (finished["id"], 14, 5, True)
    assert len(page["entries"]) == 5
    assert page["entries"][0]["route_id"] == "intake"
    assert_error(client.get(f"/api/v1/executions/{MISSING}/stats"), 404, "execution_not_found")
    assert_error(
        client.get("/api/v1/executions/demo-done/lineage", params={"limit": 10001}), 422, "request_validation_error"
    )


def test_status_changes_on_a_finished_execution(client: httpx.Client, finished: dict[str, Any]) -> None:
    body = assert_error(
        client.patch("/api/v1/executions/demo-done", json={"status": "failed"}), 400, "invalid_status_transition"
    )
    assert "completed" in body["detail"]
    assert_error(client.post("/api/v1/executions/demo-done/cancel"), 400, "invalid_status_transition")
    assert_error(
        client.patch("/api/v1/executions/demo-done", json={"status": "running"}), 422, "request_validation_error"
    )
    missing = client.patch(f"/api/v1/executions/{MISSING}", json={"status": "cancelled"})
    assert_error(missing, 404, "execution_not_found")


def test_cancel_a_running_execution(client: httpx.Client, slow_yaml: str) -> None:
    execution = run_config(client, store_config(client, slow_yaml), tag="to-cancel")
    refused = client.patch("/api/v1/executions/to-cancel", json={"status": "completed"})
    assert_error(refused, 400, "invalid_status_transition")
    response = client.post("/api/v1/executions/to-cancel/cancel", json={"reason": "test"})
    assert response.status_code == 202
    assert response.json() == {
        "success": True,
        "execution_id": execution["id"],
        "previous_status": "running",
        "current_status": "cancelling",
        "message": response.json()["message"],
    }
    result = wait_execution(client, "to-cancel")
    assert result["status"] == "cancelled"
    again = client.patch("/api/v1/executions/to-cancel", json={"status": "cancelled"})
    assert again.status_code == 200 and again.json()["current_status"] == "cancelled"
    assert client.get("/api/v1/executions/to-cancel").json()["cancel_requested"] is True


def test_wait_times_out_with_200(client: httpx.Client, slow: dict[str, Any]) -> None:
    response = client.post(f"/api/v1/executions/{slow['id']}/wait", json={"timeout": 1})
    assert response.status_code == 200
    body = response.json()
    assert (body["completed"], body["status"], body["duration_ms"]) == (False, "running", None)
    assert body["waited_ms"] >= 900
    assert body["stats"]["status"] == "running"
    assert_error(
        client.post(f"/api/v1/executions/{slow['id']}/wait", json={"timeout": 0}), 422, "request_validation_error"
    )


def test_failed_execution_reports_dead_letters(client: httpx.Client, failing_yaml: str) -> None:
    execution = run_config(client, store_config(client, failing_yaml))
    result = wait_execution(client, execution["id"])
    assert result["status"] == "failed"
    assert result["error_info"]["code"] == "dead_letter_threshold_exceeded"
    assert result["stats"]["message_counts"]["dead_lettered"] == 1
    failures = client.get("/api/v1/lineage/failures", params={"execution_id": execution["id"]}).json()
    assert failures["total"] == 1
    assert failures["entries"][0]["error_info"]["retryable"] is False


def test_replays_of_an_execution_without_replays(client: httpx.Client, finished: dict[str, Any]) -> None:
    page = client.get("/api/v1/executions/demo-done/replays").json()
    assert page == {"total": 0, "limit": 100, "offset": 0, "has_more": False, "next_cursor": None, "executions": []}
    assert_error(client.get(f"/api/v1/executions/{MISSING}/replays"), 404, "execution_not_found")


def test_replay_request_validation(client: httpx.Client, finished: dict[str, Any]) -> None:
    assert_error(client.post("/api/v1/executions/demo-done/replay", json={}), 422, "request_validation_error")
    assert_error(
        client.post("/api/v1/executions/demo-done/replay", json={"from_stage": "split", "replay_source": "lineage"}),
        422,
        "request_validation_error",
    )
    assert_error(
        client.post("/api/v1/executions/demo-done/replay", json={"from_stage": "split", "from_path": "a/b"}),
        422,
        "request_validation_error",
    )
    assert_error(client.post("/api/v1/replay", json={"from_stage": "split"}), 422, "request_validation_error")


def _overwrite_snapshot(server: RunningServer, execution_id: str, document: dict[str, Any]) -> None:
    """Store `document` as the execution's snapshot, as a hand edit or an older release would."""
    url = sqlalchemy.engine.make_url(server.settings.database_url or "")
    assert url.get_backend_name() == "sqlite" and url.database
    with contextlib.closing(sqlite3.connect(url.database)) as connection, connection:
        connection.execute(
            "UPDATE pipeline_executions SET config_snapshot = ? WHERE id = ?", (json.dumps(document), execution_id)
        )


def test_an_unreadable_stored_snapshot_still_lists_and_reads(
    factflow_server: RunningServer, client: httpx.Client, demo_yaml: str
) -> None:
    execution = run_config(client, store_config(client, demo_yaml, name="unreadable-snapshot"), tag="unreadable")
    wait_execution(client, execution["id"])
    document = {"config_yaml": "routes: {}", "config": {"routes": "not a mapping"}, "config_version": 1}
    _overwrite_snapshot(factflow_server, execution["id"], document)

    listed = client.get("/api/v1/executions", params={"tag": "unreadable"})
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["executions"]] == [execution["id"]]
    assert client.get("/api/v1/executions", params={"limit": 1000}).status_code == 200
    detail = client.get(f"/api/v1/executions/{execution['id']}")
    assert detail.status_code == 200
    body = detail.json()
    assert (body["status"], body["config_snapshot"], body["routes"]) == ("completed", document, [])
    assert client.get(f"/api/v1/executions/{execution['id']}/stats").status_code == 200  # frozen at the end
    assert client.get(f"/api/v1/executions/{execution['id']}/routes").status_code == 200
    # Only what needs the typed snapshot reports it, with a stable code instead of a 500.
    assert_error(client.get(f"/api/v1/executions/{execution['id']}/dag"), 400, "config_invalid")
