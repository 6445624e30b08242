"""SSE endpoints over a real server: E7, E14, S4 (api.md §4)."""

from __future__ import annotations

from typing import Any

import httpx

from factflow_server.testing import assert_error, read_sse, run_config, store_config, wait_execution


def _events(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame for frame in frames if "event" in frame]


def _stream(client: httpx.Client, path: str, **kwargs: Any) -> tuple[httpx.Response, list[dict[str, Any]]]:
    with client.stream("GET", path, **kwargs) as response:
        if response.status_code != 200:
            response.read()
            return response, []
        return response, read_sse(response)


def test_live_execution_stream(client: httpx.Client, demo_yaml: str) -> None:
    config_id = store_config(client, demo_yaml, name="sse-live")
    execution = run_config(client, config_id)
    response, frames = _stream(client, f"/api/v1/executions/{execution['id']}/events", params={"timeout": 60})
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert frames[0] == {"retry": 3000}
    events = _events(frames)
    names = [event["event"] for event in events]
    assert names[0] == "execution.snapshot"
    assert names[-1] == "stream.end"
    assert events[-1]["data"]["reason"] == "terminal" and events[-1]["data"]["status"] == "completed"
    ids = [event["id"] for event in events]
    assert len(set(ids)) == len(ids) and all(len(event_id) == 36 for event_id in ids)
    live_ids = [event["id"] for event in events[1:-1]]
    assert live_ids == sorted(live_ids)
    for event in events:
        data = event["data"]
        assert data["type"] == event["event"]
        assert data["execution_id"] == execution["id"]
        assert data["timestamp"].endswith("Z")
    snapshot = events[0]["data"]
    assert set(snapshot) >= {"execution", "message_counts", "stage_counts", "routes"}
    assert {"execution.progress", "execution.status", "stage.completed", "stage.skipped"} <= set(names)
    status = next(event for event in events if event["event"] == "execution.status")["data"]
    assert (status["status"], status["previous_status"]) == ("completed", "running")
    progress = [event["data"] for event in events if event["event"] == "execution.progress"]
    assert progress[-1]["in_flight"] == 0 and progress[-1]["handled"] == 8
    stage = next(event for event in events if event["event"] == "stage.completed")["data"]
    assert {"entry_id", "correlation_id", "route_id", "adapter_name", "stage_status", "storage_key"} <= set(stage)


def test_stream_without_messages_and_resume(client: httpx.Client, demo_yaml: str) -> None:
    execution = run_config(client, store_config(client, demo_yaml, name="sse-resume"))
    path = f"/api/v1/executions/{execution['id']}/events"
    _, frames = _stream(client, path, params={"include_messages": "false"})
    events = _events(frames)
    assert not any(event["event"].startswith("stage.") for event in events)
    assert events[-1]["event"] == "stream.end"
    # Reconnect from the snapshot: buffered events after it come first, then a fresh snapshot and the end.
    _, frames = _stream(client, path, params={"include_messages": "false"}, headers={"Last-Event-ID": events[0]["id"]})
    resumed = _events(frames)
    buffered = [event for event in resumed if event["event"] not in ("execution.snapshot", "stream.end")]
    assert buffered, "events after the given id are replayed from the buffer"
    assert all(event["id"] > events[0]["id"] for event in buffered)
    assert [event["event"] for event in resumed[-2:]] == ["execution.snapshot", "stream.end"]
    assert resumed.index(buffered[-1]) < len(resumed) - 2


def test_finished_execution_gets_snapshot_and_end_at_once(client: httpx.Client, demo_yaml: str) -> None:
    execution = run_config(client, store_config(client, demo_yaml, name="sse-done"))
    wait_execution(client, execution["id"])
    _, frames = _stream(client, f"/api/v1/executions/{execution['id']}/events")
    events = _events(frames)
    assert [event["event"] for event in events] == ["execution.snapshot", "stream.end"]
    assert events[1]["data"] == {**events[1]["data"], "reason": "terminal", "status": "completed"}
    assert events[0]["data"]["execution"]["status"] == "completed"


def test_stream_timeout_ends_with_timeout(client: httpx.Client, slow_yaml: str) -> None:
    execution = run_config(client, store_config(client, slow_yaml))
    try:
        _, frames = _stream(client, f"/api/v1/executions/{execution['id']}/events", params={"timeout": 1})
        end = _events(frames)[-1]
        assert end["event"] == "stream.end"
        assert end["data"]["reason"] == "timeout" and end["data"]["status"] == "running"
    finally:
        client.post(f"/api/v1/executions/{execution['id']}/cancel")
        wait_execution(client, execution["id"])


def test_stream_errors_are_json(client: httpx.Client) -> None:
    response, _ = _stream(client, "/api/v1/executions/no-such-tag/events")
    assert_error(response, 404, "execution_not_found")
    response, _ = _stream(client, "/api/v1/executions/no-such-tag/storage-stream")
    assert_error(response, 404, "execution_not_found")
    response, _ = _stream(client, "/api/v1/storage/events")
    assert_error(response, 422, "request_validation_error")
    response, _ = _stream(client, "/api/v1/storage/events", params={"execution_id": [f"t{n}" for n in range(21)]})
    assert_error(response, 422, "request_validation_error")


def test_storage_stream_multiplexes_executions(client: httpx.Client, demo_yaml: str, slow_yaml: str) -> None:
    config_id = store_config(client, demo_yaml, name="sse-storage")
    first = run_config(client, config_id, tag="storage-a")
    second = run_config(client, config_id, tag="storage-b")
    _, frames = _stream(
        client,
        "/api/v1/storage/events",
        params={"execution_id": ["storage-a", second["id"]], "route_id": "pricing", "timeout": 60},
    )
    events = _events(frames)
    created = [event["data"] for event in events if event["event"] == "storage.object.created"]
    finished = [event["data"] for event in events if event["event"] == "execution.finished"]
    assert events[-1]["event"] == "stream.end" and events[-1]["data"]["reason"] == "terminal"
    assert {item["execution_id"] for item in finished} == {first["id"], second["id"]}
    assert {item["status"] for item in finished} == {"completed"}
    assert created, "writes made while connected are delivered"
    assert {item["route_id"] for item in created} == {"pricing"}
    assert all(item["key"].startswith(f"executions/{item['execution_id']}/pricing/") for item in created)
    assert set(created[0]) >= {"key", "stage", "adapter_name", "correlation_id", "content_type", "size", "created_at"}


def test_execution_storage_stream_alias(client: httpx.Client, demo_yaml: str) -> None:
    execution = run_config(client, store_config(client, demo_yaml, name="sse-alias"))
    _, frames = _stream(
        client, f"/api/v1/executions/{execution['id']}/storage-stream", params={"stage": "bulk_flag", "timeout": 60}
    )
    events = _events(frames)
    created = [event["data"] for event in events if event["event"] == "storage.object.created"]
    assert events[-1]["event"] == "stream.end"
    assert {item["stage"] for item in created} <= {"bulk_flag"}
