"""Pipeline (route) endpoints P1–P3 (docs/reference/http-api.md)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Path

from factflow_execution import ExecutionNotFoundError, views

from .._deps import ConfigServiceDep, ExecutionServiceDep, ManagerDep, WorkerMonitorDep
from .._errors import ApiError
from ..schemas._pipelines import (
    PausedRoute,
    PipelineControlRequest,
    PipelineControlResponse,
    PipelineListResponse,
    RouteMetrics,
    RunningRoute,
)
from ._common import API_PREFIX, ERROR_RESPONSES, errors

__all__ = ("router",)

router = APIRouter(prefix=f"{API_PREFIX}/pipelines", tags=["pipelines"], responses=ERROR_RESPONSES)

RouteId = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]


def _route_not_found(route_id: str) -> ApiError:
    return ApiError(404, "route_not_found", f"No route named {route_id!r} is running, configured or paused.")


@router.get(
    "",
    response_model=PipelineListResponse,
    responses=errors(404),
    summary="Running routes",
    operation_id="list_running_routes",
)
async def list_pipelines(
    service: ExecutionServiceDep,
    manager: ManagerDep,
    execution_id: str | None = None,
    route_id: str | None = None,
    state: Literal["running", "paused"] | None = None,
) -> PipelineListResponse:
    """Routes of every running execution, newest execution first, then declaration order."""
    wanted_execution = (await service.get(execution_id)).execution_id if execution_id is not None else None
    executions = []
    for live_id in manager.live_execution_ids():
        if wanted_execution is not None and live_id != wanted_execution:
            continue
        try:
            execution = await service.get(live_id)
        except ExecutionNotFoundError:
            continue
        if execution.status == "running":
            executions.append(execution)
    executions.sort(key=lambda execution: (execution.started_at, execution.execution_id), reverse=True)
    routes: list[RunningRoute] = []
    for execution in executions:
        for status in await service.routes(execution.execution_id):
            if route_id is not None and status.route_id != route_id:
                continue
            if state is not None and status.processor_state != state:
                continue
            routes.append(
                RunningRoute(
                    **dict(status),
                    execution_id=execution.execution_id,
                    execution_tag=execution.tag,
                    config_id=execution.config_id,
                    started_at=execution.started_at,
                )
            )
    paused = [
        PausedRoute(route_id=pause.route_id, paused_at=pause.paused_at, reason=pause.reason)
        for pause in sorted(manager.paused_routes().values(), key=lambda pause: pause.route_id)
    ]
    return PipelineListResponse(total=len(routes), routes=routes, paused_routes=paused)


@router.get(
    "/{route_id}/metrics",
    response_model=RouteMetrics,
    responses=errors(404),
    summary="Route throughput/latency",
    operation_id="get_route_metrics",
)
async def route_metrics(route_id: RouteId, manager: ManagerDep, workers: WorkerMonitorDep) -> RouteMetrics:
    """One route name across running executions and live workers (counters since start, 60 s window)."""
    metrics = views.route_metrics(manager, route_id, remote=await workers.route_snapshots(route_id))
    if metrics is None:
        raise _route_not_found(route_id)
    return RouteMetrics.model_validate(asdict(metrics))


@router.patch(
    "/{route_id}",
    response_model=PipelineControlResponse,
    responses=errors(404),
    summary="Pause / resume globally",
    operation_id="set_route_paused",
)
async def control_route(
    route_id: RouteId, body: PipelineControlRequest, configs: ConfigServiceDep, manager: ManagerDep
) -> PipelineControlResponse:
    """Pause or resume a route name in every current and future execution (persisted)."""
    paused_now = route_id in manager.paused_routes()
    if route_id not in manager.known_route_ids() and route_id not in await configs.active_route_ids():
        raise _route_not_found(route_id)
    previous: Literal["paused", "running"] = "paused" if paused_now else "running"
    live = manager.route_execution_ids(route_id)
    if body.state == previous:
        return PipelineControlResponse(
            success=True,
            route_id=route_id,
            status=body.state,
            previous_status=previous,
            affected_executions=sorted(set(live)),
            message=f"Route {route_id!r} is already {body.state}.",
        )
    if body.state == "paused":
        affected = await manager.pause_route(route_id, body.reason)
        message = f"Route {route_id!r} is paused; queued messages wait until it resumes."
    else:
        affected = await manager.resume_route(route_id)
        message = f"Route {route_id!r} is running again."
    return PipelineControlResponse(
        success=True,
        route_id=route_id,
        status=body.state,
        previous_status=previous,
        affected_executions=affected,
        message=message,
    )
