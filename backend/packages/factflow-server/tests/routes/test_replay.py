"""Replay E12/E13/R1 (api.md §5.2–5.3) on real stored stage outputs of the demo."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from factflow_server.testing import RunningServer, assert_error, run_config, store_config, wait_execution

MISSING = "01a20000-0000-7000-8000-000000000000"
REPLAY_KEYS = {
    "from_execution_id",
    "from_route",
    "from_stage",
    "from_path",
    "mode",
    "to_route",
    "to_queue",
    "start_at_adapter",
    "target_config_id",
    "replay_batch_id",
    "objects_found",
    "objects_published",
    "objects_failed",
    "publish_status",
}


@pytest.fixture(scope="module")
def source(factflow_server: RunningServer, demo_yaml: str) -> dict[str, Any]:
    with factflow_server.client() as client:
        config_id = store_config(client, demo_yaml, name="replay-source")
        execution = run_config(client, config_id, tag="replay-source")
        wait_execution(client, execution["id"])
        return {**execution, "config_id": config_id}


def test_same_pipeline_replay_from_a_mid_chain_stage(client: httpx.Client, source: dict[str, Any]) -> None:
    response = client.post(
        "/api/v1/executions/replay-source/replay", json={"from_stage": "delay", "tag": "replayed-delay"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/executions/{body['id']}"
    assert (body["source"], body["parent_execution_id"], body["replay_source"]) == ("replay", source["id"], "storage")
    assert body["tag"] == "replayed-delay" and body["status"] == "running"
    replay = body["replay"]
    assert set(replay) == REPLAY_KEYS
    assert (replay["mode"], replay["from_route"], replay["to_route"], replay["start_at_adapter"]) == (
        "same_pipeline",
        "pricing",
        "pricing",
        1,
    )
    assert replay["objects_found"] == 5 and replay["publish_status"] == "publishing"
    assert replay["replay_batch_id"] == body["replay_batch_id"]
    result = wait_execution(client, body["id"])
    assert result["status"] == "completed"
    detail = client.get(f"/api/v1/executions/{body['id']}").json()
    assert detail["replay"]["publish_status"] == "completed" and detail["replay"]["objects_published"] == 5
    stats = {row["stage_name"]: row for row in result["stats"]["adapters"]}
    assert stats["delay"]["count"] == 0  # the replayed stage does not run again
    assert stats["bulk_flag"]["count"] == 5
    children = client.get("/api/v1/executions/replay-source/replays").json()
    assert body["id"] in [item["id"] for item in children["executions"]]
    batch = client.get(f"/api/v1/lineage/batch/{body['replay_batch_id']}").json()
    assert batch["kind"] == "replay" and batch["total"] > 0
    entry = batch["entries"][0]
    chain = client.get(f"/api/v1/lineage/{entry['correlation_id']}/chain").json()
    assert source["id"] in {message["execution_id"] for message in chain["ancestors"]}


def test_replay_of_a_last_stage_goes_to_outbound_queues(client: httpx.Client, source: dict[str, Any]) -> None:
    body = client.post(
        "/api/v1/executions/replay-source/replay", json={"from_stage": "split", "from_route": "intake"}
    ).json()
    assert body["replay"]["to_queue"] == "demo.items"
    assert wait_execution(client, body["id"])["status"] == "completed"


def test_cross_pipeline_replay(client: httpx.Client, source: dict[str, Any]) -> None:
    response = client.post(
        "/api/v1/replay",
        json={"from_execution_id": source["id"], "from_stage": "bulk_flag", "to_route": "review"},
    )
    assert response.status_code == 201, response.text
    replay = response.json()["replay"]
    assert (replay["mode"], replay["to_route"], replay["start_at_adapter"], replay["objects_found"]) == (
        "cross_pipeline",
        "review",
        0,
        2,
    )
    assert wait_execution(client, response.json()["id"])["status"] == "completed"


def test_replay_resolution_errors(client: httpx.Client, source: dict[str, Any]) -> None:
    path = "/api/v1/executions/replay-source/replay"
    unknown = client.post(f"/api/v1/executions/{MISSING}/replay", json={"from_stage": "delay"})
    assert_error(unknown, 404, "execution_not_found")
    assert_error(client.post(path, json={"from_stage": "nope"}), 400, "unknown_stage")
    ambiguous = assert_error(client.post(path, json={"from_stage": "set_fields"}), 400, "ambiguous_stage")
    assert sorted(ambiguous["context"]["candidates"]) == ["intake", "review"]
    assert_error(client.post(path, json={"from_stage": "set_fields", "from_route": "review"}), 400, "nothing_to_replay")
    assert_error(client.post(path, json={"from_stage": "delay", "from_path": "zzz"}), 404, "replay_source_empty")
    assert_error(client.post(path, json={"from_stage": "delay", "to_route": "nowhere"}), 400, "unknown_route")
    assert_error(client.post(path, json={"from_stage": "delay", "config_id": MISSING}), 404, "config_not_found")
    assert_error(client.post(path, json={"from_stage": "delay", "tag": "replay-source"}), 409, "tag_conflict")
    inactive = store_config(client, client.get(f"/api/v1/configs/{source['config_id']}").json()["config_yaml"])
    client.delete(f"/api/v1/configs/{inactive}")
    assert_error(client.post(path, json={"from_stage": "delay", "config_id": inactive}), 409, "config_inactive")
