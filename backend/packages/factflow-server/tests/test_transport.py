"""Envelope, correlation ids, auth, body limit and crash handling on a real server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from factflow_server.testing import RunningServer, assert_error


class _Echo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def _add_test_routes(app: FastAPI) -> None:
    @app.post("/api/v1/_test/echo")
    async def echo(body: _Echo) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/api/v1/_test/crash")
    async def crash() -> dict[str, str]:
        raise RuntimeError("boom with a secret detail")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    from factflow_server.testing import embedded_settings, serve_in_thread

    settings = embedded_settings(tmp_path_factory.mktemp("transport"))
    with serve_in_thread(settings, configure_app=_add_test_routes) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


assert_envelope = assert_error


def test_unknown_path_is_a_404_envelope(client: httpx.Client) -> None:
    assert_envelope(client.get("/api/v1/does-not-exist"), 404, "not_found")
    assert_envelope(client.get("/nothing-here"), 404, "not_found")


def test_trailing_slash_is_a_404_envelope_not_a_redirect(client: httpx.Client) -> None:
    assert_envelope(client.get("/api/v1/system/health/"), 404, "not_found")


def test_wrong_method_is_a_405_envelope(client: httpx.Client) -> None:
    response = client.delete("/api/v1/system/health")
    assert_envelope(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


def test_correlation_id_is_echoed(client: httpx.Client) -> None:
    response = client.get("/api/v1/system/health", headers={"X-Correlation-ID": "my-trace:42"})
    assert response.headers["x-correlation-id"] == "my-trace:42"
    error = client.get("/api/v1/nope", headers={"X-Correlation-ID": "abc-123"})
    assert error.json()["correlation_id"] == "abc-123"


@pytest.mark.parametrize("bad", ["x" * 129, "tab\there"])
def test_invalid_correlation_id_is_replaced(client: httpx.Client, bad: str) -> None:
    response = client.get("/api/v1/system/health", headers={"X-Correlation-ID": bad})
    generated = response.headers["x-correlation-id"]
    assert generated != bad
    assert len(generated) == 36 and generated[14] == "7"  # UUIDv7


def test_generated_correlation_ids_differ(client: httpx.Client) -> None:
    first = client.get("/api/v1/system/health").headers["x-correlation-id"]
    second = client.get("/api/v1/system/health").headers["x-correlation-id"]
    assert first != second


def test_unknown_body_field_is_422_with_errors(client: httpx.Client) -> None:
    body = assert_envelope(
        client.post("/api/v1/_test/echo", json={"name": "a", "surprise": 1}), 422, "request_validation_error"
    )
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {"loc": ["body", "surprise"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"} in errors


def test_malformed_json_is_422(client: httpx.Client) -> None:
    response = client.post("/api/v1/_test/echo", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_envelope(response, 422, "request_validation_error")


def test_body_within_limit_passes(client: httpx.Client) -> None:
    name = "n" * (2 * 1024 * 1024 - 20)
    response = client.post("/api/v1/_test/echo", json={"name": name})
    assert response.status_code == 200
    assert response.json() == {"name": name}


def test_body_over_2_mib_is_413(client: httpx.Client) -> None:
    response = client.post("/api/v1/_test/echo", json={"name": "n" * (2 * 1024 * 1024)})
    assert_envelope(response, 413, "payload_too_large")


def test_chunked_body_over_2_mib_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(33):
            yield b"n" * 65536
        yield b'"}'

    response = client.post("/api/v1/_test/echo", content=chunks(), headers={"Content-Type": "application/json"})
    assert_envelope(response, 413, "payload_too_large")


def test_unexpected_error_is_a_generic_500(client: httpx.Client) -> None:
    body = assert_envelope(client.get("/api/v1/_test/crash"), 500, "internal_error")
    assert "boom" not in str(body["detail"])


def test_query_booleans_accept_only_true_false_1_0(client: httpx.Client) -> None:
    for value in ("true", "false", "1", "0", "TRUE"):
        assert client.get("/api/v1/system/health", params={"debug": value}).status_code in (200, 503)
    body = assert_envelope(
        client.get("/api/v1/system/health", params={"debug": "yes"}), 422, "request_validation_error"
    )
    assert body["errors"] and body["errors"][0]["loc"] == ["query", "debug"]


def test_prometheus_text_has_the_contract_families(client: httpx.Client) -> None:
    client.get("/api/v1/system/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert families == {
        "factflow_messages_received_total",
        "factflow_messages_completed_total",
        "factflow_messages_failed_total",
        "factflow_messages_dead_lettered_total",
        "factflow_messages_deduplicated_total",
        "factflow_messages_retried_total",
        "factflow_executions_started_total",
        "factflow_lineage_dropped_total",
        "factflow_storage_writes_total",
        "factflow_http_requests_total",
        "factflow_messages_in_flight",
        "factflow_route_paused",
        "factflow_route_concurrency",
        "factflow_circuit_breaker_state",
        "factflow_executions_running",
        "factflow_lineage_buffer_size",
        "factflow_adapter_duration_seconds",
        "factflow_http_request_duration_seconds",
        "factflow_workers_live",
        "factflow_worker_in_flight",
        "factflow_worker_handled_total",
        "factflow_worker_heartbeat_age_seconds",
    }
    assert 'factflow_http_requests_total{method="GET",path_template="/api/v1/system/health",status=' in text
    assert 'factflow_http_request_duration_seconds_count{method="GET",path_template="/api/v1/system/health"}' in text
    assert "_created" not in text


def test_unmatched_paths_share_one_template(client: httpx.Client) -> None:
    client.get("/api/v1/random-1")
    client.get("/api/v1/random-2")
    text = client.get("/metrics").text
    assert "random-1" not in text
    assert 'path_template="unmatched",status="404"' in text


@pytest.fixture
def secured(factflow_server_factory: Callable[..., RunningServer]) -> RunningServer:
    return factflow_server_factory(api_token="s3cret-token", configure_app=_add_test_routes)


def test_auth_requires_bearer_token(secured: RunningServer) -> None:
    with secured.client() as anonymous:
        response = anonymous.post("/api/v1/_test/echo", json={"name": "a"})
        assert_envelope(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        assert_envelope(anonymous.get("/api/v1/does-not-exist"), 401, "unauthorized")
    with secured.client(token="wrong") as wrong:
        assert_envelope(wrong.post("/api/v1/_test/echo", json={"name": "a"}), 401, "unauthorized")
    with secured.client(token="s3cret-token") as good:
        assert good.post("/api/v1/_test/echo", json={"name": "a"}).json() == {"name": "a"}
        assert_envelope(good.get("/api/v1/does-not-exist"), 404, "not_found")


def test_auth_exempts_health_metrics_and_openapi(secured: RunningServer) -> None:
    with secured.client() as anonymous:
        health = anonymous.get("/api/v1/system/health", params={"debug": "true"})
        assert health.status_code in (200, 503)
        assert health.json()["debug"] is None
        assert anonymous.get("/metrics").status_code == 200
        assert anonymous.get("/openapi.json").status_code == 200
        assert anonymous.get("/docs").status_code == 200
    with secured.client(token="s3cret-token") as good:
        debug = good.get("/api/v1/system/health", params={"debug": "true"}).json()["debug"]
        assert debug is not None
        assert debug["settings"]["api_token"] == "***"
        assert "s3cret-token" not in str(debug)


THREE_MIB = 3 * 1024 * 1024


def test_three_mib_config_bodies_are_413_declared_or_chunked(client: httpx.Client) -> None:
    payload = b'{"config_yaml": "' + b"x" * THREE_MIB + b'"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    for path in ("/api/v1/configs", "/api/v1/configs/validate"):
        declared = client.post(path, content=payload, headers={"Content-Type": "application/json"})
        assert_envelope(declared, 413, "payload_too_large")
        streamed = client.post(path, content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in streamed.request.headers
        assert_envelope(streamed, 413, "payload_too_large")


def test_the_body_limit_is_a_setting(factflow_server_factory: Callable[..., RunningServer]) -> None:
    server = factflow_server_factory(max_request_bytes=4096)
    with server.client() as client:
        small = client.post("/api/v1/configs/validate", json={"config_yaml": "x" * 1000})
        assert small.status_code == 200
        body = assert_envelope(
            client.post("/api/v1/configs/validate", json={"config_yaml": "x" * 5000}), 413, "payload_too_large"
        )
        assert "4096" in body["detail"]
        assert (
            client.get("/api/v1/system/health", params={"debug": "true"}).json()["debug"]["settings"][
                "max_request_bytes"
            ]
            == 4096
        )
