"""Hostile config submissions (alias bombs, deep nesting) get a report or a 4xx, quickly."""

from __future__ import annotations

import json

import httpx
import pytest

from factflow_server.testing import assert_error

# A generous bound, not a measurement: on a busy machine an honest answer takes well under it.
ANSWER_WITHIN_SECONDS = 10.0

BILLION_LAUGHS = "\n".join(
    ['version: "1.0"', 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]" for level in range(1, 10)]
    + ["name: *a9"]
)
DEEP_YAML = 'version: "1.0"\nname: deep\nmetadata: ' + "[" * 50_000 + "]" * 50_000 + "\n"
DEEP_FLOW_MAP = 'version: "1.0"\nname: deep\nmetadata: ' + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n"


@pytest.mark.parametrize(
    "yaml_text", [BILLION_LAUGHS, DEEP_YAML, DEEP_FLOW_MAP], ids=["alias-bomb", "deep-seq", "deep-map"]
)
def test_yaml_bombs_get_a_report(client: httpx.Client, yaml_text: str) -> None:
    validated = client.post("/api/v1/configs/validate", json={"config_yaml": yaml_text}, timeout=ANSWER_WITHIN_SECONDS)
    assert validated.status_code == 200, validated.text
    report = validated.json()
    assert report["is_valid"] is False
    assert {issue["code"] for issue in report["issues"]} & {"E001", "E008"}, report
    stored = client.post("/api/v1/configs", json={"config_yaml": yaml_text}, timeout=ANSWER_WITHIN_SECONDS)
    body = assert_error(stored, 400, "yaml_parse_error")
    assert body["validation_report"]["is_valid"] is False


@pytest.mark.parametrize("depth", [1_000, 100_000, 1_000_000])
def test_deeply_nested_json_bodies_are_refused(client: httpx.Client, depth: int) -> None:
    nested = '{"config_yaml": "x", "metadata": ' + "[" * depth + "]" * depth + "}"
    for path in ("/api/v1/configs/validate", "/api/v1/configs", "/api/v1/executions"):
        response = client.post(
            path, content=nested, headers={"Content-Type": "application/json"}, timeout=ANSWER_WITHIN_SECONDS
        )
        assert 400 <= response.status_code < 500, (path, depth, response.text[:300])
        assert response.json()["error_code"] in ("request_validation_error", "payload_too_large")


def test_deep_init_payload_is_stored_or_refused_never_500(client: httpx.Client) -> None:
    payload = json.dumps({"config_id": "01a20000-0000-7000-8000-000000000000", "metadata": {"x": [[[[[[1]]]]]]}})
    response = client.post("/api/v1/executions", content=payload, headers={"Content-Type": "application/json"})
    assert_error(response, 404, "config_not_found")
