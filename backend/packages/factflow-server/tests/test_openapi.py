from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from factflow_server.api_reference import TAG_DESCRIPTIONS, main, openapi_document, render_markdown

REPO_ROOT = Path(__file__).resolve().parents[4]
ENDPOINTS_PAGE = REPO_ROOT / "docs" / "reference" / "http-api-endpoints.md"
OPENAPI_JSON = REPO_ROOT / "docs" / "reference" / "openapi.json"

CONTRACT_SCHEMAS = {
    "ErrorResponse",
    "ValidationIssue",
    "ValidationReport",
    "PipelineConfigResponse",
    "PipelineConfigDetailResponse",
    "ExecutionResponse",
    "ExecutionDetailResponse",
    "ReplayInfo",
    "RouteStatus",
    "AdapterStats",
    "ExecutionStats",
    "DAGResponse",
    "DAGNode",
    "DAGEdge",
    "LineageEntry",
    "LineageMessage",
    "ObjectInfo",
    "ObjectMetadata",
    "ListObjectsResponse",
    "StatusChangeResponse",
    "WaitResult",
    "RunningRoute",
    "RouteMetrics",
    "PipelineControlResponse",
    "HealthResponse",
    "MetricsSnapshot",
    "AdapterInfo",
}

ENDPOINTS = {
    ("post", "/api/v1/configs"),
    ("get", "/api/v1/configs"),
    ("get", "/api/v1/configs/{config_id}"),
    ("put", "/api/v1/configs/{config_id}"),
    ("delete", "/api/v1/configs/{config_id}"),
    ("post", "/api/v1/configs/validate"),
    ("post", "/api/v1/configs/{config_id}/run"),
    ("post", "/api/v1/executions"),
    ("get", "/api/v1/executions"),
    ("get", "/api/v1/executions/{ref}"),
    ("patch", "/api/v1/executions/{ref}"),
    ("delete", "/api/v1/executions/{ref}"),
    ("post", "/api/v1/executions/{ref}/cancel"),
    ("post", "/api/v1/executions/{ref}/wait"),
    ("get", "/api/v1/executions/{ref}/events"),
    ("get", "/api/v1/executions/{ref}/dag"),
    ("get", "/api/v1/executions/{ref}/stats"),
    ("get", "/api/v1/executions/{ref}/routes"),
    ("get", "/api/v1/executions/{ref}/lineage"),
    ("post", "/api/v1/executions/{ref}/replay"),
    ("get", "/api/v1/executions/{ref}/replays"),
    ("get", "/api/v1/executions/{ref}/storage-stream"),
    ("post", "/api/v1/replay"),
    ("get", "/api/v1/pipelines"),
    ("get", "/api/v1/pipelines/{route_id}/metrics"),
    ("patch", "/api/v1/pipelines/{route_id}"),
    ("get", "/api/v1/storage/objects"),
    ("get", "/api/v1/storage/objects/{key}"),
    ("get", "/api/v1/storage/objects/{key}/metadata"),
    ("get", "/api/v1/storage/events"),
    ("get", "/api/v1/lineage"),
    ("get", "/api/v1/lineage/failures"),
    ("get", "/api/v1/lineage/stats"),
    ("get", "/api/v1/lineage/batch/{batch_id}"),
    ("get", "/api/v1/lineage/{lineage_id}"),
    ("get", "/api/v1/lineage/{lineage_id}/chain"),
    ("get", "/api/v1/lineage/{lineage_id}/children"),
    ("get", "/api/v1/system/health"),
    ("get", "/api/v1/system/metrics"),
    ("get", "/api/v1/adapters"),
    ("get", "/api/v1/adapters/{adapter_type}"),
    ("get", "/api/v1/workers"),
    ("get", "/api/v1/workers/{worker_id}"),
    ("get", "/metrics"),
}


def test_openapi_document(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.1")
    assert CONTRACT_SCHEMAS <= set(spec["components"]["schemas"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operations = {(method, path) for path, methods in spec["paths"].items() for method in methods}
    assert operations == ENDPOINTS
    run = spec["paths"]["/api/v1/configs/{config_id}/run"]["post"]
    assert run["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/ExecutionResponse")
    assert run["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert run["responses"]["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    timestamp = spec["components"]["schemas"]["ExecutionResponse"]["properties"]["started_at"]
    assert timestamp["type"] == "string"


def test_docs_page(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
    assert "/openapi.json" in response.text


# The operation ids are part of the API: client generators name their methods after them.
OPERATION_IDS = {
    ("get", "/api/v1/configs"): "list_configs",
    ("post", "/api/v1/configs"): "create_config",
    ("post", "/api/v1/configs/validate"): "validate_config",
    ("get", "/api/v1/configs/{config_id}"): "get_config",
    ("put", "/api/v1/configs/{config_id}"): "update_config",
    ("delete", "/api/v1/configs/{config_id}"): "delete_config",
    ("post", "/api/v1/configs/{config_id}/run"): "run_config",
    ("get", "/api/v1/executions"): "list_executions",
    ("post", "/api/v1/executions"): "create_execution",
    ("get", "/api/v1/executions/{ref}"): "get_execution",
    ("patch", "/api/v1/executions/{ref}"): "set_execution_status",
    ("delete", "/api/v1/executions/{ref}"): "delete_execution",
    ("post", "/api/v1/executions/{ref}/cancel"): "cancel_execution",
    ("post", "/api/v1/executions/{ref}/wait"): "wait_for_execution",
    ("get", "/api/v1/executions/{ref}/events"): "stream_execution_events",
    ("get", "/api/v1/executions/{ref}/dag"): "get_execution_dag",
    ("get", "/api/v1/executions/{ref}/stats"): "get_execution_stats",
    ("get", "/api/v1/executions/{ref}/routes"): "list_execution_routes",
    ("get", "/api/v1/executions/{ref}/lineage"): "list_execution_lineage",
    ("post", "/api/v1/executions/{ref}/replay"): "replay_execution",
    ("get", "/api/v1/executions/{ref}/replays"): "list_execution_replays",
    ("get", "/api/v1/executions/{ref}/storage-stream"): "stream_execution_storage_events",
    ("post", "/api/v1/replay"): "replay_stored_objects",
    ("get", "/api/v1/pipelines"): "list_running_routes",
    ("get", "/api/v1/pipelines/{route_id}/metrics"): "get_route_metrics",
    ("patch", "/api/v1/pipelines/{route_id}"): "set_route_paused",
    ("get", "/api/v1/storage/objects"): "list_storage_objects",
    ("get", "/api/v1/storage/objects/{key}"): "get_storage_object",
    ("get", "/api/v1/storage/objects/{key}/metadata"): "get_storage_object_metadata",
    ("get", "/api/v1/storage/events"): "stream_storage_events",
    ("get", "/api/v1/lineage"): "list_lineage",
    ("get", "/api/v1/lineage/failures"): "list_lineage_failures",
    ("get", "/api/v1/lineage/stats"): "get_lineage_stats",
    ("get", "/api/v1/lineage/batch/{batch_id}"): "list_lineage_batch",
    ("get", "/api/v1/lineage/{lineage_id}"): "get_lineage_message",
    ("get", "/api/v1/lineage/{lineage_id}/chain"): "get_lineage_chain",
    ("get", "/api/v1/lineage/{lineage_id}/children"): "list_lineage_children",
    ("get", "/api/v1/system/health"): "get_health",
    ("get", "/api/v1/system/metrics"): "get_system_metrics",
    ("get", "/api/v1/adapters"): "list_adapters",
    ("get", "/api/v1/adapters/{adapter_type}"): "get_adapter",
    ("get", "/api/v1/workers"): "list_workers",
    ("get", "/api/v1/workers/{worker_id}"): "get_worker",
    ("get", "/metrics"): "get_prometheus_metrics",
}


def test_every_operation_has_its_pinned_id_and_one_documented_tag() -> None:
    spec = openapi_document()
    operations = {(method, path): op for path, methods in spec["paths"].items() for method, op in methods.items()}
    assert set(operations) == ENDPOINTS
    assert {key: op["operationId"] for key, op in operations.items()} == OPERATION_IDS
    assert all(len(op["tags"]) == 1 and op["tags"][0] in TAG_DESCRIPTIONS for op in operations.values())
    assert [tag["name"] for tag in spec["tags"]] == list(TAG_DESCRIPTIONS)
    # No description sends readers to documents that are not published with the product.
    text = json.dumps(spec)
    assert ".md" not in text and "§" not in text


def test_the_served_document_is_the_generated_one(client: httpx.Client) -> None:
    assert client.get("/openapi.json").json() == openapi_document()


def test_committed_api_reference_equals_the_openapi_document() -> None:
    document = openapi_document()
    assert json.loads(OPENAPI_JSON.read_text(encoding="utf-8")) == document, "run `make docs`"
    assert ENDPOINTS_PAGE.read_text(encoding="utf-8") == render_markdown(document), "run `make docs`"
    assert main(["--check", str(ENDPOINTS_PAGE), "--openapi", str(OPENAPI_JSON)]) == 0


def test_endpoint_page_documents_every_operation_and_schema() -> None:
    document = openapi_document()
    page = render_markdown(document)
    for operation_id in OPERATION_IDS.values():
        assert f"### `{operation_id}` {{#{operation_id}}}" in page
    for name in document["components"]["schemas"]:
        assert f"### `{name}` {{#{name.lower()}}}" in page


def test_check_reports_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page, spec = tmp_path / "endpoints.md", tmp_path / "openapi.json"
    assert main(["--write", str(page), "--openapi", str(spec)]) == 0
    assert main(["--check", str(page), "--openapi", str(spec)]) == 0
    page.write_text(page.read_text() + "edited\n")
    assert main(["--check", str(page), "--openapi", str(spec)]) == 1
    assert "endpoints.md" in capsys.readouterr().err


def test_an_operation_without_an_id_cannot_be_rendered() -> None:
    document = openapi_document()
    del document["paths"]["/api/v1/configs"]["get"]["operationId"]
    with pytest.raises(ValueError, match="GET /api/v1/configs needs an explicit `operation_id`"):
        render_markdown(document)
