from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from factflow_server.testing import RunningServer, assert_error

DEMO = Path(__file__).resolve().parents[5] / "backend" / "config" / "pipelines" / "demo.yaml"


@pytest.fixture
def client(factflow_server: RunningServer) -> Iterator[httpx.Client]:
    with factflow_server.client() as c:
        yield c


def test_validate_demo_is_valid(client: httpx.Client) -> None:
    response = client.post("/api/v1/configs/validate", json={"config_yaml": DEMO.read_text()})
    assert response.status_code == 200
    assert response.json() == {"is_valid": True, "error_count": 0, "warning_count": 0, "issues": []}


def test_validate_reports_issues_with_positions(client: httpx.Client) -> None:
    yaml_text = 'version: "1.0"\nroutes:\n  r:\n    inbound: {queue: q}\n    adapters:\n      - type: splitt\n'
    body = client.post("/api/v1/configs/validate", json={"config_yaml": yaml_text}).json()
    assert body["is_valid"] is False
    assert body["error_count"] >= 1
    issue = next(issue for issue in body["issues"] if issue["code"] == "E103")
    assert set(issue) == {"severity", "code", "path", "line", "column", "message", "suggestion"}
    assert issue["path"] == "routes.r.adapters[0].type"
    assert issue["line"] == 6
    assert "split" in issue["suggestion"]
    assert [i["severity"] for i in body["issues"]] == sorted(
        (i["severity"] for i in body["issues"]), key=lambda severity: severity != "error"
    )


def test_validate_unparseable_yaml_is_still_200(client: httpx.Client) -> None:
    body = client.post("/api/v1/configs/validate", json={"config_yaml": "a: [unclosed"}).json()
    assert body["is_valid"] is False
    assert body["issues"][0]["code"] == "E001"


def test_validate_requires_a_string(client: httpx.Client) -> None:
    assert_error(client.post("/api/v1/configs/validate", json={}), 422, "request_validation_error")
    assert_error(client.post("/api/v1/configs/validate", json={"config_yaml": 5}), 422, "request_validation_error")
    assert_error(
        client.post("/api/v1/configs/validate", json={"config_yaml": "x", "extra": 1}),
        422,
        "request_validation_error",
    )
