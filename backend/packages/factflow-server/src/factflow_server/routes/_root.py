"""Operational paths outside `/api/v1`: M1 Prometheus text (M2 `/openapi.json` and `/docs` are FastAPI's)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from .._deps import RuntimeDep
from .._metrics import PROMETHEUS_CONTENT_TYPE

__all__ = ("router",)

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {PROMETHEUS_CONTENT_TYPE: {}}, "description": "Prometheus text 0.0.4"}},
    summary="Prometheus metrics (no auth)",
    operation_id="get_prometheus_metrics",
)
async def get_prometheus_metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text exposition 0.0.4; labels carry route and adapter names, never execution ids."""
    return Response(runtime.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)
