"""Execution endpoints E1–E14 (docs/reference/http-api.md) and the detached replay R1 (§5.3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from factflow_execution import EventStreamerUnavailableError, ExecutionService, ExecutionWaiter, PipelineExecution

from .._cursor import CursorParam, CursorScope, OptionalOffset, check_paging
from .._deps import (
    EventHubDep,
    ExecutionRemoverDep,
    ExecutionRepositoryDep,
    ExecutionServiceDep,
    ExecutionStreamerDep,
    StorageStreamerDep,
)
from .._params import (
    ExecutionSourceHeader,
    LastEventId,
    QueryBool,
    QueryDatetime,
    TimeoutSeconds,
    check_metadata_size,
    source_of,
)
from .._sse import event_stream_response
from ..schemas._deletion import ExecutionDeleteResponse
from ..schemas._executions import (
    CancelRequest,
    CrossPipelineReplayRequest,
    DAGResponse,
    ExecutionCreateRequest,
    ExecutionDetailResponse,
    ExecutionLineageResponse,
    ExecutionListResponse,
    ExecutionReplayResponse,
    ExecutionResponse,
    ExecutionRoutesResponse,
    ExecutionStats,
    ReplayRequest,
    StatusChangeRequest,
    StatusChangeResponse,
    WaitRequest,
    WaitResult,
)
from ..schemas._lineage import LineageEntry
from ._common import API_PREFIX, ERROR_RESPONSES, EXECUTION_LINKS, errors, links
from ._configs import start_execution
from ._paging import keyset_page_fields, split_extra
from ._storage import storage_event_stream

__all__ = ("replay_router", "router")

router = APIRouter(prefix=f"{API_PREFIX}/executions", tags=["executions"], responses=ERROR_RESPONSES)
replay_router = APIRouter(prefix=f"{API_PREFIX}/replay", tags=["replay"], responses=ERROR_RESPONSES)

_SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Server-Sent Events (event types and resume: HTTP API reference)",
    },
    **errors(404),
}
ExecutionStatusFilter = Literal["running", "completed", "failed", "cancelled", "interrupted"]


def _summary(execution: PipelineExecution) -> ExecutionResponse:
    return ExecutionResponse.model_validate(execution.to_api())


@router.post(
    "",
    status_code=201,
    response_model=ExecutionResponse,
    responses={**errors(400, 404, 409, 429), **links(201, "ref", "$response.body#/id", EXECUTION_LINKS)},
    summary="Start an execution (body form)",
    operation_id="create_execution",
)
async def create_execution(
    body: ExecutionCreateRequest,
    service: ExecutionServiceDep,
    response: Response,
    x_factflow_source: ExecutionSourceHeader = None,
) -> ExecutionResponse:
    """Same steps and answers as C7; an unknown `config_id` is 404 `config_not_found`."""
    return await start_execution(
        service,
        response,
        config_id=str(body.config_id),
        source=source_of(x_factflow_source),
        tag=body.tag,
        metadata=body.metadata,
        init_payload_overrides=body.init_payload_overrides,
        skip_init_message=body.skip_init_message,
        lineage_retention_days=body.lineage_retention_days,
    )


@router.get(
    "",
    response_model=ExecutionListResponse,
    responses={**errors(404), **links(200, "ref", "$response.body#/executions/0/id", EXECUTION_LINKS)},
    summary="List executions",
    operation_id="list_executions",
)
async def list_executions(
    service: ExecutionServiceDep,
    request: Request,
    status: ExecutionStatusFilter | None = None,
    config_id: str | None = None,
    parent_execution_id: str | None = None,
    tag: str | None = None,
    source: Literal["api", "cli", "replay"] | None = None,
    started_after: QueryDatetime | None = None,
    started_before: QueryDatetime | None = None,
    sort_order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OptionalOffset = 0,
    cursor: CursorParam = None,
) -> ExecutionListResponse:
    """By `started_at` (then `id`), newest first by default; follow `next_cursor` for deep pages."""
    skip = check_paging(request, cursor, offset)
    scope = CursorScope(
        "executions",
        {
            "status": status,
            "config_id": config_id,
            "parent_execution_id": parent_execution_id,
            "tag": tag,
            "source": source,
            "started_after": started_after,
            "started_before": started_before,
            "sort_order": sort_order,
        },
    )
    after = scope.decode(cursor) if cursor is not None else None
    page = await service.list(
        status=status,
        config_id=config_id,
        parent_execution_id=parent_execution_id,
        tag=tag,
        source=source,
        started_after=started_after,
        started_before=started_before,
        sort_order=sort_order,
        limit=limit + 1,
        offset=skip,
        after=after,
    )
    return _execution_page(scope, page.items, total=page.total, limit=limit, offset=skip, cursor=cursor)


def _execution_page(
    scope: CursorScope,
    items: tuple[PipelineExecution, ...],
    *,
    total: int,
    limit: int,
    offset: int,
    cursor: str | None,
) -> ExecutionListResponse:
    rows, more = split_extra(items, limit)
    next_cursor = scope.encode(rows[-1].started_at, rows[-1].execution_id) if more and rows else None
    return ExecutionListResponse(
        **keyset_page_fields(
            total=total,
            limit=limit,
            offset=offset,
            count=len(rows),
            cursor=cursor,
            more=more,
            next_cursor=next_cursor,
        ),
        executions=[_summary(execution) for execution in rows],
    )


@router.get(
    "/{ref}",
    response_model=ExecutionDetailResponse,
    responses=errors(404),
    summary="Execution detail",
    operation_id="get_execution",
)
async def get_execution(ref: str, service: ExecutionServiceDep) -> ExecutionDetailResponse:
    """The execution by id or tag, with live counters and routes while running."""
    return ExecutionDetailResponse.model_validate(await service.detail(ref))


@router.patch(
    "/{ref}",
    response_model=StatusChangeResponse,
    responses={202: {"model": StatusChangeResponse, "description": "Cancellation accepted"}, **errors(400, 404)},
    summary="Set status",
    operation_id="set_execution_status",
)
async def patch_execution(ref: str, body: StatusChangeRequest, service: ExecutionServiceDep) -> JSONResponse:
    """202 `cancelling` for a live execution; 200 for changes applied at once."""
    result = await service.update_status(ref, body.status, reason=body.reason, error_info=body.error_info)
    payload = StatusChangeResponse.model_validate(result.to_api()).model_dump(mode="json")
    return JSONResponse(payload, status_code=202 if result.accepted else 200)


@router.delete(
    "/{ref}",
    response_model=ExecutionDeleteResponse,
    responses=errors(404, 409),
    summary="Delete a finished execution",
    operation_id="delete_execution",
)
async def delete_execution(ref: str, remover: ExecutionRemoverDep) -> ExecutionDeleteResponse:
    """Remove a finished execution with its lineage rows, queues and stored objects.

    409 `execution_not_finished` while it is `running` or `interrupted`; 404 once it is gone.
    """
    deletion = await remover.delete(ref)
    return ExecutionDeleteResponse(
        execution_id=deletion.execution_id,
        status=deletion.status,
        deleted_objects=deletion.objects,
        deleted_queue_keys=deletion.queues,
        deleted_lineage_rows=deletion.lineage_rows,
    )


@router.post(
    "/{ref}/cancel",
    response_model=StatusChangeResponse,
    responses={202: {"model": StatusChangeResponse, "description": "Cancellation accepted"}, **errors(400, 404)},
    summary="Graceful cancel",
    operation_id="cancel_execution",
)
async def cancel_execution(ref: str, service: ExecutionServiceDep, body: CancelRequest | None = None) -> JSONResponse:
    """As `set_execution_status` with `cancelled`: 202 `cancelling` for a live execution."""
    result = await service.cancel(ref, reason=body.reason if body is not None else None)
    payload = StatusChangeResponse.model_validate(result.to_api()).model_dump(mode="json")
    return JSONResponse(payload, status_code=202 if result.accepted else 200)


@router.post(
    "/{ref}/wait",
    response_model=WaitResult,
    responses=errors(404),
    summary="Block until stopped",
    operation_id="wait_for_execution",
)
async def wait_for_execution(
    ref: str, hub: EventHubDep, service: ExecutionServiceDep, body: WaitRequest | None = None
) -> WaitResult:
    """Returns when the execution stops, or on timeout (still 200, `completed: false`)."""
    execution = await service.get(ref)
    if hub.is_closed:
        raise EventStreamerUnavailableError("The server is shutting down.")
    waiter = ExecutionWaiter(execution.execution_id, service=service, hub=hub)
    return await waiter.wait(body.timeout if body is not None else 300.0)


@router.get(
    "/{ref}/events",
    response_class=StreamingResponse,
    responses=_SSE_RESPONSES,
    summary="Live events",
    operation_id="stream_execution_events",
)
async def execution_events(
    ref: str,
    hub: EventHubDep,
    service: ExecutionServiceDep,
    streamer: ExecutionStreamerDep,
    lifetime: TimeoutSeconds = 300,
    include_messages: Annotated[QueryBool, Query()] = True,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """SSE — buffered events after `Last-Event-ID`, a snapshot, live events, then `stream.end`."""
    execution = await service.get(ref)
    if hub.is_closed:
        raise EventStreamerUnavailableError("The event streamer is shut down.")
    events = streamer.stream(
        execution.execution_id, timeout=lifetime, include_messages=include_messages, last_event_id=last_event_id
    )
    return event_stream_response(events)


@router.get(
    "/{ref}/dag",
    response_model=DAGResponse,
    responses=errors(404),
    summary="Route graph",
    operation_id="get_execution_dag",
)
async def execution_dag(ref: str, service: ExecutionServiceDep) -> DAGResponse:
    """The route graph of the execution's snapshot."""
    return await service.dag(ref)


@router.get(
    "/{ref}/stats",
    response_model=ExecutionStats,
    responses=errors(404),
    summary="Execution stats",
    operation_id="get_execution_stats",
)
async def execution_stats(ref: str, service: ExecutionServiceDep) -> ExecutionStats:
    """Counters and per-adapter stats."""
    return await service.stats(ref)


@router.get(
    "/{ref}/routes",
    response_model=ExecutionRoutesResponse,
    responses=errors(404),
    summary="Routes",
    operation_id="list_execution_routes",
)
async def execution_routes(ref: str, service: ExecutionServiceDep) -> ExecutionRoutesResponse:
    """Every route of the execution in declaration order."""
    execution = await service.get(ref)
    routes = await service.routes(execution.execution_id)
    return ExecutionRoutesResponse(execution_id=execution.execution_id, routes=routes)


@router.get(
    "/{ref}/lineage",
    response_model=ExecutionLineageResponse,
    responses=errors(404),
    summary="Lineage rows",
    operation_id="list_execution_lineage",
)
async def execution_lineage(
    ref: str,
    service: ExecutionServiceDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: OptionalOffset = 0,
    cursor: CursorParam = None,
) -> ExecutionLineageResponse:
    """The execution's lineage rows by `started_at`, then `id`; follow `next_cursor` for deep pages."""
    skip = check_paging(request, cursor, offset)
    execution = await service.get(ref)
    scope = CursorScope("execution_lineage", {"execution_id": execution.execution_id})
    after = scope.decode(cursor) if cursor is not None else None
    page = await service.lineage(execution.execution_id, limit=limit + 1, offset=skip, after=after)
    rows, more = split_extra(page.entries, limit)
    next_cursor = scope.encode(rows[-1].started_at, rows[-1].id) if more and rows else None
    return ExecutionLineageResponse(
        execution_id=page.execution_id,
        **keyset_page_fields(
            total=page.total,
            limit=limit,
            offset=skip,
            count=len(rows),
            cursor=cursor,
            more=more,
            next_cursor=next_cursor,
        ),
        entries=[LineageEntry.of(row) for row in rows],
    )


async def _replay(service: ExecutionService, ref: str, request: dict[str, Any], response: Response) -> Any:
    check_metadata_size(request.get("metadata"))
    execution = await service.replay(ref, request)
    response.headers["Location"] = f"{API_PREFIX}/executions/{execution.execution_id}"
    return ExecutionReplayResponse.model_validate(execution.to_api(include_replay=True))


@router.post(
    "/{ref}/replay",
    status_code=201,
    response_model=ExecutionReplayResponse,
    responses=errors(400, 404, 409, 429),
    summary="Replay stored stage output",
    operation_id="replay_execution",
)
async def replay_execution(
    ref: str, body: ReplayRequest, service: ExecutionServiceDep, response: Response
) -> ExecutionReplayResponse:
    """Replay the stored outputs of one stage of `{ref}` into a new execution."""
    result: ExecutionReplayResponse = await _replay(service, ref, body.model_dump(), response)
    return result


@router.get(
    "/{ref}/replays",
    response_model=ExecutionListResponse,
    responses=errors(404),
    summary="Child replays",
    operation_id="list_execution_replays",
)
async def execution_replays(
    ref: str,
    service: ExecutionServiceDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OptionalOffset = 0,
    cursor: CursorParam = None,
) -> ExecutionListResponse:
    """Executions whose parent is `{ref}`, newest first; follow `next_cursor` for deep pages."""
    skip = check_paging(request, cursor, offset)
    parent = await service.get(ref)
    scope = CursorScope("replays", {"parent_execution_id": parent.execution_id})
    after = scope.decode(cursor) if cursor is not None else None
    page = await service.list(parent_execution_id=parent.execution_id, limit=limit + 1, offset=skip, after=after)
    return _execution_page(scope, page.items, total=page.total, limit=limit, offset=skip, cursor=cursor)


@router.get(
    "/{ref}/storage-stream",
    response_class=StreamingResponse,
    responses=_SSE_RESPONSES,
    summary="Storage writes",
    operation_id="stream_execution_storage_events",
)
async def execution_storage_stream(
    ref: str,
    hub: EventHubDep,
    executions: ExecutionRepositoryDep,
    streamer: StorageStreamerDep,
    route_id: str | None = None,
    stage: str | None = None,
    path: str | None = None,
    extension: str | None = None,
    lifetime: TimeoutSeconds = 300,
    keep_open: Annotated[QueryBool, Query()] = False,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """`stream_storage_events` with `execution_id` fixed to `{ref}`."""
    return await storage_event_stream(
        hub,
        executions,
        streamer,
        [ref],
        route_id=route_id,
        stage=stage,
        path=path,
        extension=extension,
        lifetime=lifetime,
        keep_open=keep_open,
        last_event_id=last_event_id,
    )


@replay_router.post(
    "",
    status_code=201,
    response_model=ExecutionReplayResponse,
    responses=errors(400, 404, 409, 429),
    summary="Detached cross-pipeline replay",
    operation_id="replay_stored_objects",
)
async def detached_replay(
    body: CrossPipelineReplayRequest, service: ExecutionServiceDep, response: Response
) -> ExecutionReplayResponse:
    """`replay_execution` in cross-pipeline mode with the source taken from the body."""
    request = body.model_dump(exclude={"from_execution_id"})
    result: ExecutionReplayResponse = await _replay(service, body.from_execution_id, request, response)
    return result
