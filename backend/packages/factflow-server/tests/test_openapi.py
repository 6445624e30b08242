from __future__ import annotations

import httpx

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
