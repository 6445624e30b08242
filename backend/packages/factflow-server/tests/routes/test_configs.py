from __future__ import annotations

from collections.abc import Callable

import httpx

from factflow_server.testing import RunningServer, assert_error, run_config, store_config, wait_execution

CONFIG_KEYS = {
    "id",
    "name",
    "description",
    "source_type",
    "source_path",
    "config_hash",
    "version",
    "is_active",
    "created_at",
    "updated_at",
    "validation_report",
    "is_runnable",
}


# ---------------------------------------------------------------- C6


def test_validate_demo_is_valid(client: httpx.Client, demo_yaml: str) -> None:
    response = client.post("/api/v1/configs/validate", json={"config_yaml": demo_yaml})
    assert response.status_code == 200
    assert response.json() == {"is_valid": True, "error_count": 0, "warning_count": 0, "issues": []}


def test_validate_reports_issues_with_positions(client: httpx.Client) -> None:
    yaml_text = 'version: "1.0"\nroutes:\n  r:\n    inbound: {queue: q}\n    adapters:\n      - type: splitt\n'
    body = client.post("/api/v1/configs/validate", json={"config_yaml": yaml_text}).json()
    assert body["is_valid"] is False
    issue = next(issue for issue in body["issues"] if issue["code"] == "E103")
    assert set(issue) == {"severity", "code", "path", "line", "column", "message", "suggestion"}
    assert issue["path"] == "routes.r.adapters[0].type"
    assert issue["line"] == 6
    assert "split" in issue["suggestion"]
    severities = [i["severity"] for i in body["issues"]]
    assert severities == sorted(severities, key=lambda severity: severity != "error")


def test_validate_unparseable_yaml_is_still_200(client: httpx.Client) -> None:
    body = client.post("/api/v1/configs/validate", json={"config_yaml": "a: [unclosed"}).json()
    assert body["is_valid"] is False
    assert body["issues"][0]["code"] == "E001"


def test_validate_requires_a_string(client: httpx.Client) -> None:
    assert_error(client.post("/api/v1/configs/validate", json={}), 422, "request_validation_error")
    assert_error(client.post("/api/v1/configs/validate", json={"config_yaml": 5}), 422, "request_validation_error")
    assert_error(
        client.post("/api/v1/configs/validate", json={"config_yaml": "x", "extra": 1}), 422, "request_validation_error"
    )


# ---------------------------------------------------------------- C1–C5


def test_create_and_read_a_config(client: httpx.Client, demo_yaml: str) -> None:
    response = client.post("/api/v1/configs", json={"config_yaml": demo_yaml})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == CONFIG_KEYS
    assert response.headers["location"] == f"/api/v1/configs/{body['id']}"
    assert body["name"] == "demo"  # from the YAML
    assert body["description"].startswith("Split an order")
    assert (body["version"], body["is_active"], body["is_runnable"], body["source_type"]) == (1, True, True, "api")
    assert body["config_hash"].startswith("sha256:")
    detail = client.get(f"/api/v1/configs/{body['id']}").json()
    assert detail["config_yaml"] == demo_yaml
    assert set(detail) == CONFIG_KEYS | {"config_yaml"}


def test_create_with_explicit_name_and_invalid_yaml_is_stored_not_runnable(
    client: httpx.Client, invalid_yaml: str
) -> None:
    body = client.post("/api/v1/configs", json={"config_yaml": invalid_yaml, "name": "mine", "description": "d"}).json()
    assert body["name"] == "mine" and body["description"] == "d"
    assert body["is_runnable"] is False
    assert body["validation_report"]["error_count"] >= 1


def test_create_errors(client: httpx.Client) -> None:
    body = assert_error(client.post("/api/v1/configs", json={"config_yaml": "a: [x"}), 400, "yaml_parse_error")
    assert body["validation_report"]["issues"][0]["code"] == "E001"
    nameless = 'version: "1.0"\nroutes:\n  r:\n    inbound: {queue: q}\n    adapters: [{type: passthrough}]\n'
    assert_error(client.post("/api/v1/configs", json={"config_yaml": nameless}), 422, "request_validation_error")
    assert_error(
        client.post("/api/v1/configs", json={"config_yaml": nameless, "name": "x", "bogus": 1}),
        422,
        "request_validation_error",
    )
    assert_error(
        client.post("/api/v1/configs", json={"config_yaml": nameless, "name": ""}), 422, "request_validation_error"
    )


def test_list_configs_filters_and_pages(client: httpx.Client, demo_yaml: str) -> None:
    ids = [store_config(client, demo_yaml, name=f"listing-{n}") for n in range(3)]
    page = client.get("/api/v1/configs", params={"name": "LISTING-", "limit": 2}).json()
    assert (page["total"], page["limit"], page["offset"], page["has_more"]) == (3, 2, 0, True)
    assert [config["id"] for config in page["configs"]] == ids[::-1][:2]  # newest updated_at first
    client.delete(f"/api/v1/configs/{ids[0]}")
    active = client.get("/api/v1/configs", params={"name": "listing-"}).json()
    inactive = client.get("/api/v1/configs", params={"name": "listing-", "state": "inactive"}).json()
    everything = client.get("/api/v1/configs", params={"name": "listing-", "state": "all"}).json()
    assert (active["total"], inactive["total"], everything["total"]) == (2, 1, 3)
    assert_error(client.get("/api/v1/configs", params={"state": "gone"}), 422, "request_validation_error")
    assert_error(client.get("/api/v1/configs", params={"limit": 0}), 422, "request_validation_error")


def test_config_lookup_errors(client: httpx.Client) -> None:
    assert_error(client.get("/api/v1/configs/not-a-uuid"), 422, "request_validation_error")
    missing = "01a20000-0000-7000-8000-000000000000"
    assert_error(client.get(f"/api/v1/configs/{missing}"), 404, "config_not_found")
    assert_error(client.delete(f"/api/v1/configs/{missing}"), 404, "config_not_found")
    assert_error(client.put(f"/api/v1/configs/{missing}", json={"config_yaml": "x: 1"}), 404, "config_not_found")


def test_update_versions_only_on_yaml_change(client: httpx.Client, demo_yaml: str) -> None:
    config_id = store_config(client, demo_yaml, name="versioned")
    same = client.put(f"/api/v1/configs/{config_id}", json={"config_yaml": demo_yaml, "name": "renamed"}).json()
    assert (same["version"], same["name"]) == (1, "renamed")
    changed_yaml = demo_yaml.replace("ORD-1001", "ORD-2002")
    changed = client.put(f"/api/v1/configs/{config_id}", json={"config_yaml": changed_yaml}).json()
    assert (changed["version"], changed["name"], changed["config_yaml"]) == (2, "renamed", changed_yaml)
    assert changed["config_hash"] != same["config_hash"]
    cleared = client.put(f"/api/v1/configs/{config_id}", json={"config_yaml": changed_yaml, "description": None})
    assert cleared.json()["description"] is None
    conflict = client.put(f"/api/v1/configs/{config_id}", json={"config_yaml": demo_yaml, "expected_version": 1})
    assert_error(conflict, 409, "version_conflict")
    assert_error(client.put(f"/api/v1/configs/{config_id}", json={"config_yaml": "a: [x"}), 400, "yaml_parse_error")
    assert client.get(f"/api/v1/configs/{config_id}").json()["version"] == 2


def test_delete_is_soft_and_idempotent(client: httpx.Client, demo_yaml: str) -> None:
    config_id = store_config(client, demo_yaml, name="deleted")
    first = client.delete(f"/api/v1/configs/{config_id}")
    assert first.status_code == 204 and first.content == b""
    assert client.delete(f"/api/v1/configs/{config_id}").status_code == 204
    detail = client.get(f"/api/v1/configs/{config_id}").json()
    assert (detail["is_active"], detail["is_runnable"]) == (False, False)
    assert_error(client.put(f"/api/v1/configs/{config_id}", json={"config_yaml": demo_yaml}), 409, "config_inactive")
    assert_error(client.post(f"/api/v1/configs/{config_id}/run"), 409, "config_inactive")


# ---------------------------------------------------------------- C7


def test_run_a_config(client: httpx.Client, demo_yaml: str) -> None:
    config_id = store_config(client, demo_yaml, name="run-me")
    response = client.post(f"/api/v1/configs/{config_id}/run", params={"tag": "c7-run"})
    assert response.status_code == 201
    execution = response.json()
    assert response.headers["location"] == f"/api/v1/executions/{execution['id']}"
    assert execution["id"] == execution["execution_id"]
    assert (execution["status"], execution["source"], execution["tag"]) == ("running", "api", "c7-run")
    assert (execution["config_id"], execution["config_name"], execution["config_version"]) == (config_id, "run-me", 1)
    assert execution["completed_at"] is None and execution["duration_ms"] is None
    assert wait_execution(client, "c7-run")["status"] == "completed"


def test_run_with_overrides_metadata_and_cli_source(client: httpx.Client, demo_yaml: str) -> None:
    config_id = store_config(client, demo_yaml, name="overrides")
    response = client.post(
        f"/api/v1/configs/{config_id}/run",
        json={"init_payload_overrides": {"customer": "Globex", "items": []}, "metadata": {"ticket": 7}},
        headers={"X-Factflow-Source": "cli"},
    )
    assert response.status_code == 201
    execution_id = response.json()["id"]
    assert response.json()["source"] == "cli"
    wait_execution(client, execution_id)
    detail = client.get(f"/api/v1/executions/{execution_id}").json()
    assert detail["init_payload"]["customer"] == "Globex" and detail["init_payload"]["items"] == []
    assert detail["init_payload"]["order_id"] == "ORD-1001"
    assert detail["metadata"] == {"ticket": 7}


def test_run_with_skip_init_completes_with_zero_messages(client: httpx.Client, demo_yaml: str) -> None:
    config_id = store_config(client, demo_yaml, name="idle")
    execution = run_config(client, config_id, skip_init_message="true")
    result = wait_execution(client, execution["id"])
    assert result["status"] == "completed"
    assert result["stats"]["message_counts"]["published"] == 0
    assert client.get(f"/api/v1/executions/{execution['id']}").json()["root_correlation_id"] is None


def test_run_errors(client: httpx.Client, demo_yaml: str, invalid_yaml: str) -> None:
    missing = "01a20000-0000-7000-8000-000000000000"
    assert_error(client.post(f"/api/v1/configs/{missing}/run"), 404, "config_not_found")
    assert_error(client.post("/api/v1/configs/nope/run"), 422, "request_validation_error")
    invalid_id = store_config(client, invalid_yaml)
    body = assert_error(client.post(f"/api/v1/configs/{invalid_id}/run"), 400, "config_invalid")
    assert body["validation_report"]["is_valid"] is False
    config_id = store_config(client, demo_yaml, name="tags")
    for bad in ("01a20000-0000-7000-8000-000000000000", "-leading", "x" * 129, "sp ace"):
        assert_error(
            client.post(f"/api/v1/configs/{config_id}/run", params={"tag": bad}), 422, "request_validation_error"
        )
    assert_error(
        client.post(f"/api/v1/configs/{config_id}/run", params={"skip_init_message": "maybe"}),
        422,
        "request_validation_error",
    )
    huge = {"metadata": {"blob": "x" * (64 * 1024)}}
    assert_error(client.post(f"/api/v1/configs/{config_id}/run", json=huge), 422, "request_validation_error")
    assert_error(
        client.post(f"/api/v1/configs/{config_id}/run", json={"surprise": True}), 422, "request_validation_error"
    )
    run_config(client, config_id, tag="taken-tag")
    before = client.get("/api/v1/executions", params={"limit": 1}).json()["total"]
    conflict = client.post(f"/api/v1/configs/{config_id}/run", params={"tag": "taken-tag"})
    assert_error(conflict, 409, "tag_conflict")
    assert client.get("/api/v1/executions", params={"limit": 1}).json()["total"] == before
    wait_execution(client, "taken-tag")


def test_concurrency_cap_answers_429_without_a_row(
    factflow_server_factory: Callable[..., RunningServer], slow_yaml: str
) -> None:
    server = factflow_server_factory(max_concurrent_executions=1)
    with server.client() as client:
        config_id = store_config(client, slow_yaml)
        first = run_config(client, config_id)
        response = client.post(f"/api/v1/configs/{config_id}/run", params={"tag": "refused"})
        assert_error(response, 429, "too_many_concurrent_executions")
        assert response.headers["retry-after"] == "5"
        assert client.get("/api/v1/executions").json()["total"] == 1
        assert_error(client.get("/api/v1/executions/refused"), 404, "execution_not_found")
        cancel = client.post(f"/api/v1/executions/{first['id']}/cancel")
        assert cancel.status_code == 202
        assert wait_execution(client, first["id"])["status"] == "cancelled"
        second = run_config(client, config_id, tag="after-slot-freed")
        assert second["status"] == "running"
        client.post(f"/api/v1/executions/{second['id']}/cancel")
        wait_execution(client, second["id"])
