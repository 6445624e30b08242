"""System endpoints: Y1 health and Y2 metrics snapshot (docs/reference/http-api.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from factflow_foundation import utc_now

from .._deps import ContainerDep, RuntimeDep
from .._health import overall_status, run_probes
from .._observe import debug_info, metrics_snapshot
from .._params import QueryBool
from .._version import SERVER_VERSION
from ..schemas._system import HealthResponse, MetricsSnapshot
from ._common import API_PREFIX, ERROR_RESPONSES

__all__ = ("router",)

router = APIRouter(prefix=f"{API_PREFIX}/system", tags=["system"], responses=ERROR_RESPONSES)


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "Unhealthy"}},
    summary="Health (no auth)",
    operation_id="get_health",
)
async def get_health(
    request: Request, runtime: RuntimeDep, debug: Annotated[QueryBool, Query()] = False
) -> JSONResponse:
    """Probe every component; 200 when healthy or degraded, 503 when unhealthy."""
    container = runtime.container
    probes = dict(container.probes) if container is not None else {}
    components = await run_probes(probes)
    status = overall_status(components)
    show_debug = debug and bool(getattr(request.state, "authorized", False)) and container is not None
    body = HealthResponse(
        status=status,
        version=SERVER_VERSION,
        timestamp=utc_now(),
        uptime_seconds=container.uptime_seconds if container is not None else 0.0,
        components=components,
        debug=await debug_info(container) if show_debug and container is not None else None,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if status == "unhealthy" else 200)


@router.get(
    "/metrics", response_model=MetricsSnapshot, summary="Orchestrator snapshot", operation_id="get_system_metrics"
)
async def get_metrics_snapshot(container: ContainerDep) -> MetricsSnapshot:
    """Execution, message, route, lineage and storage counters since process start, and worker figures."""
    return await metrics_snapshot(container)
