"""Cursor paging (`cursor` / `next_cursor`) of the large lists, and deleting an execution."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from factflow_server.testing import RunningServer, assert_error, run_config, store_config, wait_execution

# 80 items through a 40 ms stage, one at a time: lineage rows keep arriving for a few seconds.
TRICKLE_YAML = (
    """\
version: "1.0"
name: trickle
routes:
  fan:
    inbound: {queue: trickle.in}
    adapters:
      - type: split
        config: {field: items}
    outbound:
      - queue: trickle.items
  slow:
    inbound: {queue: trickle.items, concurrency: 1, prefetch: 1}
    adapters:
      - type: delay
        config: {ms: 40}
init_message:
  route: fan
  payload:
    items: """
    + str(list(range(80)))
    + "\n"
)

QUICK_YAML = """\
version: "1.0"
name: quick
routes:
  only:
    inbound: {queue: quick.in}
    adapters:
      - type: set_fields
        config: {values: {done: true}}
init_message:
  route: only
  payload: {n: 1}
"""


@pytest.fixture(scope="module")
def demo(factflow_server: RunningServer, demo_yaml: str) -> dict[str, Any]:
    with factflow_server.client() as client:
        config_id = store_config(client, demo_yaml, name="cursor-demo")
        runs = [run_config(client, config_id, tag=f"cursor-demo-{n}") for n in range(3)]
        for run in runs:
            wait_execution(client, run["id"])
        return {"config_id": config_id, "ids": [run["id"] for run in runs]}


def follow(client: httpx.Client, path: str, items: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a list, following `next_cursor` from a first page without one."""
    collected: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        page_params = dict(params) if cursor is None else {**params, "cursor": cursor}
        response = client.get(path, params=page_params)
        assert response.status_code == 200, response.text
        page = response.json()
        collected.extend(page[items])
        cursor = page["next_cursor"]
        if cursor is None:
            assert page["has_more"] is False
            return collected
        assert page["has_more"] is True
    raise AssertionError("next_cursor never ended")


def test_executions_follow_cursor(client: httpx.Client, demo: dict[str, Any]) -> None:
    for order in ("desc", "asc"):
        params = {"config_id": demo["config_id"], "sort_order": order}
        everything = client.get("/api/v1/executions", params=params).json()["executions"]
        assert len(everything) == 3
        paged = follow(client, "/api/v1/executions", "executions", {**params, "limit": 1})
        assert [item["id"] for item in paged] == [item["id"] for item in everything]
    first = client.get("/api/v1/executions", params={"config_id": demo["config_id"], "limit": 2}).json()
    assert (first["total"], first["offset"], first["has_more"]) == (3, 0, True)
    second = client.get(
        "/api/v1/executions", params={"config_id": demo["config_id"], "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert (second["total"], second["offset"], second["has_more"], second["next_cursor"]) == (3, 0, False, None)


def test_lineage_lists_follow_cursor(client: httpx.Client, demo: dict[str, Any]) -> None:
    execution_id = demo["ids"][0]
    for sort_by, order in (
        ("started_at", "asc"),
        ("duration_ms", "desc"),
        ("completed_at", "asc"),
        ("route_id", "desc"),
    ):
        params = {"execution_id": execution_id, "sort_by": sort_by, "sort_order": order}
        everything = client.get("/api/v1/lineage", params=params).json()["entries"]
        paged = follow(client, "/api/v1/lineage", "entries", {**params, "limit": 3})
        assert [entry["id"] for entry in paged] == [entry["id"] for entry in everything], sort_by
    rows = client.get(f"/api/v1/executions/{execution_id}/lineage").json()["entries"]
    assert len(rows) == 14
    paged = follow(client, f"/api/v1/executions/{execution_id}/lineage", "entries", {"limit": 4})
    assert [entry["id"] for entry in paged] == [entry["id"] for entry in rows]
    failures = follow(client, "/api/v1/lineage/failures", "entries", {"limit": 2})
    assert failures == client.get("/api/v1/lineage/failures").json()["entries"]


def test_storage_listing_follows_cursor(client: httpx.Client, demo: dict[str, Any]) -> None:
    params = {"execution_id": demo["ids"][1], "include_metadata": "false"}
    everything = client.get("/api/v1/storage/objects", params=params).json()
    assert everything["total"] >= 2
    paged = follow(client, "/api/v1/storage/objects", "objects", {**params, "limit": 1})
    assert [item["key"] for item in paged] == [item["key"] for item in everything["objects"]]
    folders = {"prefix": f"executions/{demo['ids'][1]}/", "delimiter": "/"}
    view = client.get("/api/v1/storage/objects", params=folders).json()
    paged = follow(client, "/api/v1/storage/objects", "common_prefixes", {**folders, "limit": 1})
    assert paged == view["common_prefixes"]


def test_bad_cursors_are_422(client: httpx.Client, demo: dict[str, Any]) -> None:
    params = {"config_id": demo["config_id"], "limit": 1}
    cursor = client.get("/api/v1/executions", params=params).json()["next_cursor"]
    assert cursor
    for bad in ("not-a-cursor", "%%%", "eyJ2IjoxfQ", cursor[:-3], "A" * 40):
        assert_error(client.get("/api/v1/executions", params={**params, "cursor": bad}), 422, "invalid_cursor")
    other_filters = {**params, "sort_order": "asc", "cursor": cursor}
    body = assert_error(client.get("/api/v1/executions", params=other_filters), 422, "invalid_cursor")
    assert "other filters or another sort order" in body["detail"]
    body = assert_error(client.get("/api/v1/lineage", params={"cursor": cursor}), 422, "invalid_cursor")
    assert "another list" in body["detail"]
    lineage_cursor = client.get(f"/api/v1/executions/{demo['ids'][0]}/lineage", params={"limit": 1}).json()
    foreign = {"cursor": lineage_cursor["next_cursor"]}
    assert_error(client.get(f"/api/v1/executions/{demo['ids'][1]}/lineage", params=foreign), 422, "invalid_cursor")
    both = {**params, "cursor": cursor, "offset": 0}
    assert_error(client.get("/api/v1/executions", params=both), 422, "request_validation_error")
    too_long = {**params, "cursor": "A" * 2000}
    assert_error(client.get("/api/v1/executions", params=too_long), 422, "request_validation_error")


def test_delete_execution(client: httpx.Client, demo: dict[str, Any], demo_yaml: str) -> None:
    execution_id = run_config(client, store_config(client, demo_yaml, name="delete-me"), tag="delete-me")["id"]
    wait_execution(client, execution_id)
    objects = client.get("/api/v1/storage/objects", params={"execution_id": execution_id}).json()["total"]
    assert objects > 0
    response = client.delete("/api/v1/executions/delete-me")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "execution_id": execution_id,
        "status": "completed",
        "deleted_objects": objects,
        "deleted_queue_keys": response.json()["deleted_queue_keys"],
        "deleted_lineage_rows": 14,
    }
    assert_error(client.get(f"/api/v1/executions/{execution_id}"), 404, "execution_not_found")
    assert_error(client.delete(f"/api/v1/executions/{execution_id}"), 404, "execution_not_found")
    every_row = follow(client, "/api/v1/lineage", "entries", {"limit": 1000})
    remaining = {row["execution_id"] for row in every_row}
    assert execution_id not in remaining
    assert set(demo["ids"]) <= remaining  # other executions keep every row
    listing = client.get("/api/v1/storage/objects", params={"prefix": f"executions/{execution_id}/"}).json()
    assert listing["total"] == 0


def test_a_running_execution_cannot_be_deleted(client: httpx.Client, slow_yaml: str) -> None:
    execution_id = run_config(client, store_config(client, slow_yaml, name="delete-running"))["id"]
    body = assert_error(client.delete(f"/api/v1/executions/{execution_id}"), 409, "execution_not_finished")
    assert body["context"] == {"execution_id": execution_id, "current_status": "running"}
    assert client.post(f"/api/v1/executions/{execution_id}/cancel").status_code == 202
    wait_execution(client, execution_id)
    assert client.delete(f"/api/v1/executions/{execution_id}").status_code == 200


def test_lineage_retention_days_on_start(client: httpx.Client, demo: dict[str, Any]) -> None:
    body = {"config_id": demo["config_id"], "skip_init_message": True}
    for bad in (0, -1, 40000, "soon"):
        response = client.post("/api/v1/executions", json={**body, "lineage_retention_days": bad})
        assert_error(response, 422, "request_validation_error")
    started = client.post("/api/v1/executions", json={**body, "lineage_retention_days": 7})
    assert started.status_code == 201
    run = client.post(f"/api/v1/configs/{demo['config_id']}/run", json={"lineage_retention_days": 0.5})
    assert run.status_code == 201, run.text
    plain = client.post("/api/v1/executions", json=body)
    # The detail echoes each execution's own retention (null: the server's setting applies).
    for response, days in ((started, 7), (run, 0.5), (plain, None)):
        detail = client.get(f"/api/v1/executions/{response.json()['id']}").json()
        assert detail["lineage_retention_days"] == days


def test_cursor_pages_of_a_running_execution_return_each_row_once(client: httpx.Client) -> None:
    """Rows inserted while a client pages must not shift the pages: no row twice, none of the earlier ones lost."""
    execution_id = run_config(client, store_config(client, TRICKLE_YAML, name="trickle"))["id"]
    path = f"/api/v1/executions/{execution_id}/lineage"
    before = {entry["id"] for entry in client.get(path, params={"limit": 1000}).json()["entries"]}
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        page = client.get(path, params=params).json()
        seen.extend(entry["id"] for entry in page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    wait_execution(client, execution_id)
    final = {entry["id"] for entry in client.get(path, params={"limit": 1000}).json()["entries"]}

    assert len(seen) == len(set(seen)), "a row came back on two pages"
    assert before <= set(seen), "rows that existed before paging began were skipped"
    assert set(seen) <= final
    assert len(final) > len(before), "the execution should still have been writing rows while the client paged"

    # The executions list, newest first, while new executions start: the earlier ones each once.
    config_id = store_config(client, QUICK_YAML, name="quick-list")
    earlier = []
    for _ in range(4):
        earlier.append(run_config(client, config_id)["id"])
        wait_execution(client, earlier[-1])
    paged: list[str] = []
    cursor = None
    while True:
        params = {"config_id": config_id, "limit": 1}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/api/v1/executions", params=params).json()
        paged.extend(item["id"] for item in page["executions"])
        if len(paged) == 1:
            run_config(client, config_id)  # a newer execution sorts before the cursor
        cursor = page["next_cursor"]
        if cursor is None:
            break
    for execution in client.get("/api/v1/executions", params={"config_id": config_id}).json()["executions"]:
        wait_execution(client, execution["id"])
    assert len(paged) == len(set(paged))
    assert sorted(paged) == sorted(earlier)
