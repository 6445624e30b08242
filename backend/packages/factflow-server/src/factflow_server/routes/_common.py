"""Shared router settings: the API prefix and the error answers every endpoint documents."""

from __future__ import annotations

from typing import Any

from .._middleware import API_PREFIX
from ..schemas._common import ErrorResponse

__all__ = ("API_PREFIX", "CONFIG_LINKS", "ERROR_RESPONSES", "EXECUTION_LINKS", "LINEAGE_LINKS", "errors", "links")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token"},
    422: {"model": ErrorResponse, "description": "Malformed input"},
    500: {"model": ErrorResponse, "description": "Unexpected fault"},
    503: {"model": ErrorResponse, "description": "A dependency is down or not started"},
}
"""Answers any `/api/v1` endpoint may give (docs/reference/http-api.md)."""


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting endpoint-specific error statuses with `ErrorResponse`."""
    return {status: {"model": ErrorResponse} for status in statuses}


def links(status: int, parameter: str, expression: str, targets: dict[str, tuple[str, str]]) -> dict[int | str, Any]:
    """A `responses=` entry declaring OpenAPI links from the `status` answer to follow-up operations.

    Links tell clients and API fuzzers which request can use a value from this answer, e.g. the
    new config's id in `GET /configs/{config_id}`.

    Args:
        status: The answer the links start from.
        parameter: The target operations' parameter that receives the value.
        expression: An OpenAPI runtime expression for the value, e.g. `$response.body#/id`.
        targets: Link name → (`/api/v1` path template, HTTP method) of each target operation.
    """
    declared = {
        name: {
            "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method.lower(),
            "parameters": {parameter: expression},
        }
        for name, (path, method) in targets.items()
    }
    return {status: {"links": declared}}


CONFIG_LINKS = {
    "GetConfig": (f"{API_PREFIX}/configs/{{config_id}}", "get"),
    "ReplaceConfig": (f"{API_PREFIX}/configs/{{config_id}}", "put"),
    "DeactivateConfig": (f"{API_PREFIX}/configs/{{config_id}}", "delete"),
    "RunConfig": (f"{API_PREFIX}/configs/{{config_id}}/run", "post"),
}
"""Operations taking a `config_id`."""

EXECUTION_LINKS = {
    "GetExecution": (f"{API_PREFIX}/executions/{{ref}}", "get"),
    "SetExecutionStatus": (f"{API_PREFIX}/executions/{{ref}}", "patch"),
    "CancelExecution": (f"{API_PREFIX}/executions/{{ref}}/cancel", "post"),
    "WaitForExecution": (f"{API_PREFIX}/executions/{{ref}}/wait", "post"),
    "ExecutionDag": (f"{API_PREFIX}/executions/{{ref}}/dag", "get"),
    "ExecutionStats": (f"{API_PREFIX}/executions/{{ref}}/stats", "get"),
    "ExecutionRoutes": (f"{API_PREFIX}/executions/{{ref}}/routes", "get"),
    "ExecutionLineage": (f"{API_PREFIX}/executions/{{ref}}/lineage", "get"),
    "ReplayExecution": (f"{API_PREFIX}/executions/{{ref}}/replay", "post"),
    "ExecutionReplays": (f"{API_PREFIX}/executions/{{ref}}/replays", "get"),
}
"""Operations taking an execution `ref`."""

LINEAGE_LINKS = {
    "GetLineage": (f"{API_PREFIX}/lineage/{{lineage_id}}", "get"),
    "LineageChain": (f"{API_PREFIX}/lineage/{{lineage_id}}/chain", "get"),
    "LineageChildren": (f"{API_PREFIX}/lineage/{{lineage_id}}/children", "get"),
}
"""Operations taking a `lineage_id`."""
