from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from factflow_server.testing import RunningServer, assert_error, read_sse, run_config, store_config, wait_execution

KEEP_YAML = """\
version: "1.0"
name: keep
routes:
  keep:
    inbound: {queue: k}
    adapters: [{type: passthrough}]
init_message: {route: keep}
"""


@pytest.fixture
def server(factflow_server_factory: Callable[..., RunningServer]) -> RunningServer:
    # Pauses are global and persistent: each test gets a server of its own.
    return factflow_server_factory()


@pytest.fixture
def api(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def _wait_for_event(client: httpx.Client, execution_id: str, predicate: Callable[[dict[str, Any]], bool]) -> None:
    """Follow the execution's SSE stream until an event satisfies `predicate` (no polling)."""
    with client.stream("GET", f"/api/v1/executions/{execution_id}/events", params={"timeout": 30}) as response:
        frame: dict[str, Any] = {}
        for line in response.iter_lines():
            if line.startswith("event: "):
                frame = {"event": line[7:]}
            elif line.startswith("data: "):
                frame["data"] = json.loads(line[6:])
                if predicate(frame):
                    return
                if frame["event"] == "stream.end":
                    break
    raise AssertionError("the expected event never came")


def test_pause_holds_messages_and_resume_finishes(api: httpx.Client, demo_yaml: str) -> None:
    config_id = store_config(api, demo_yaml)
    paused = api.patch("/api/v1/pipelines/pricing", json={"state": "paused", "reason": "maintenance"})
    assert paused.status_code == 200
    assert paused.json() == {
        "success": True,
        "route_id": "pricing",
        "status": "paused",
        "previous_status": "running",
        "affected_executions": [],
        "message": paused.json()["message"],
    }
    again = api.patch("/api/v1/pipelines/pricing", json={"state": "paused"})
    assert again.status_code == 200 and again.json()["previous_status"] == "paused"

    execution = run_config(api, config_id, tag="paused-run")
    # The intake route finishes its fan-out; the five items wait in the paused route's queue.
    _wait_for_event(
        api,
        execution["id"],
        lambda frame: frame["event"] == "execution.progress" and frame["data"]["published"] == 6,
    )
    waited = api.post("/api/v1/executions/paused-run/wait", json={"timeout": 1}).json()
    assert (waited["completed"], waited["status"]) == (False, "running")

    listing = api.get("/api/v1/pipelines").json()
    assert listing["paused_routes"][0]["route_id"] == "pricing"
    assert listing["paused_routes"][0]["reason"] == "maintenance"
    assert listing["paused_routes"][0]["paused_at"].endswith("Z")
    by_route = {route["route_id"]: route for route in listing["routes"]}
    assert set(by_route) == {"intake", "pricing", "review"} and listing["total"] == 3
    pricing = by_route["pricing"]
    assert (pricing["processor_state"], pricing["paused"], pricing["execution_tag"]) == ("paused", True, "paused-run")
    assert pricing["execution_id"] == execution["id"] and pricing["config_id"] == config_id
    only_paused = api.get("/api/v1/pipelines", params={"state": "paused"}).json()
    assert [route["route_id"] for route in only_paused["routes"]] == ["pricing"]
    assert api.get("/api/v1/pipelines", params={"route_id": "review"}).json()["total"] == 1

    metrics = api.get("/api/v1/pipelines/pricing/metrics").json()
    assert (metrics["route_id"], metrics["paused"], metrics["processors"], metrics["window_seconds"]) == (
        "pricing",
        True,
        1,
        60,
    )
    assert metrics["queue_depth"] >= 0
    assert set(metrics["messages"]) == {"received", "completed", "failed", "dead_lettered", "retried", "in_flight"}
    assert metrics["executions"][0]["execution_id"] == execution["id"]

    resumed = api.patch("/api/v1/pipelines/pricing", json={"state": "running"})
    assert resumed.json()["affected_executions"] == [execution["id"]]
    assert resumed.json()["previous_status"] == "paused"
    assert wait_execution(api, "paused-run")["status"] == "completed"
    assert api.get("/api/v1/pipelines").json() == {"total": 0, "routes": [], "paused_routes": []}


def test_pause_survives_a_restart(factflow_server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    data_dir = tmp_path / "persistent"
    first = factflow_server_factory(data_dir=data_dir)
    with first.client() as client:
        store_config(client, KEEP_YAML)
        assert client.patch("/api/v1/pipelines/keep", json={"state": "paused"}).status_code == 200
    first.stop()
    second = factflow_server_factory(data_dir=data_dir)
    with second.client() as client:
        assert [p["route_id"] for p in client.get("/api/v1/pipelines").json()["paused_routes"]] == ["keep"]
        metrics = client.get("/api/v1/pipelines/keep/metrics").json()
        assert metrics["paused"] is True and metrics["processors"] == 0


def test_pipeline_errors(api: httpx.Client) -> None:
    assert_error(api.patch("/api/v1/pipelines/unknown", json={"state": "paused"}), 404, "route_not_found")
    assert_error(api.get("/api/v1/pipelines/unknown/metrics"), 404, "route_not_found")
    assert_error(api.get("/api/v1/pipelines/Bad Name/metrics"), 422, "request_validation_error")
    assert_error(api.patch("/api/v1/pipelines/x", json={"state": "stopped"}), 422, "request_validation_error")
    assert_error(
        api.patch("/api/v1/pipelines/x", json={"state": "paused", "extra": 1}), 422, "request_validation_error"
    )
    assert_error(api.get("/api/v1/pipelines", params={"execution_id": "nope"}), 404, "execution_not_found")
    assert_error(api.get("/api/v1/pipelines", params={"state": "stopped"}), 422, "request_validation_error")


def test_sse_frames_are_parsed_by_the_helper(api: httpx.Client, demo_yaml: str) -> None:
    execution = run_config(api, store_config(api, demo_yaml))
    wait_execution(api, execution["id"])
    with api.stream("GET", f"/api/v1/executions/{execution['id']}/events") as response:
        frames = read_sse(response)
    assert frames[0] == {"retry": 3000}
    assert frames[-1]["event"] == "stream.end"
