"""Lineage endpoints L1–L7 (docs/reference/http-api.md).

L2–L4 are declared before L5–L7 so `failures`, `stats` and `batch` are never read as ids.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from factflow_execution import PipelineExecutionRepository
from factflow_lineage import LineageRepository, PipelineLineageEntry

from .._cursor import CursorParam, CursorScope, OptionalOffset, PositionType, check_paging
from .._deps import ExecutionRepositoryDep, LineageRepositoryDep
from .._errors import ApiError
from .._params import Offset, QueryBool, QueryDatetime
from ..schemas._lineage import (
    LineageBatchResponse,
    LineageChainResponse,
    LineageChildrenResponse,
    LineageEntry,
    LineageListResponse,
    LineageMessageResponse,
    LineageStatsResponse,
    StageStatus,
)
from ._common import API_PREFIX, ERROR_RESPONSES, LINEAGE_LINKS, errors, links
from ._paging import keyset_page_fields, page_fields, split_extra

__all__ = ("router",)

router = APIRouter(prefix=f"{API_PREFIX}/lineage", tags=["lineage"], responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=1000)]
SortField = Literal["started_at", "completed_at", "duration_ms", "route_id", "stage_name"]
_POSITION_TYPES: dict[str, PositionType] = {
    "started_at": "datetime",
    "completed_at": "datetime",
    "duration_ms": "float",
    "route_id": "str",
    "stage_name": "str",
}


def _entries(rows: list[PipelineLineageEntry] | tuple[PipelineLineageEntry, ...]) -> list[LineageEntry]:
    return [LineageEntry.of(row) for row in rows]


async def _execution_id(executions: PipelineExecutionRepository, ref: str | None) -> str | None:
    if ref is None:
        return None
    return (await executions.resolve(ref)).execution_id


@router.get(
    "",
    response_model=LineageListResponse,
    responses={**errors(404), **links(200, "lineage_id", "$response.body#/entries/0/correlation_id", LINEAGE_LINKS)},
    summary="Filtered lineage rows",
    operation_id="list_lineage",
)
async def list_lineage(
    executions: ExecutionRepositoryDep,
    lineage: LineageRepositoryDep,
    request: Request,
    execution_id: str | None = None,
    route_id: str | None = None,
    adapter_name: str | None = None,
    stage_name: str | None = None,
    status: StageStatus | None = None,
    correlation_id: str | None = None,
    parent_correlation_id: str | None = None,
    is_root: Annotated[QueryBool | None, Query()] = None,
    replay_batch_id: str | None = None,
    batch_id: str | None = None,
    url: str | None = None,
    title: str | None = None,
    origin: str | None = None,
    document_id: str | None = None,
    started_after: QueryDatetime | None = None,
    started_before: QueryDatetime | None = None,
    sort_by: SortField = "started_at",
    sort_order: Literal["asc", "desc"] = "asc",
    limit: Limit = 100,
    offset: OptionalOffset = 0,
    cursor: CursorParam = None,
) -> LineageListResponse:
    """Rows matching every filter; `execution_id` is an id or a tag (404 when unknown).

    Follow `next_cursor` for deep pages.
    """
    skip = check_paging(request, cursor, offset)
    resolved = await _execution_id(executions, execution_id)
    scope = CursorScope(
        "lineage",
        {
            "execution_id": resolved,
            "route_id": route_id,
            "adapter_name": adapter_name,
            "stage_name": stage_name,
            "status": status,
            "correlation_id": correlation_id,
            "parent_correlation_id": parent_correlation_id,
            "is_root": is_root,
            "replay_batch_id": replay_batch_id,
            "batch_id": batch_id,
            "url": url,
            "title": title,
            "origin": origin,
            "document_id": document_id,
            "started_after": started_after,
            "started_before": started_before,
            "sort_by": sort_by,
            "sort_order": sort_order,
        },
        position_type=_POSITION_TYPES[sort_by],
        nullable=sort_by in ("completed_at", "duration_ms"),
    )
    after = scope.decode(cursor) if cursor is not None else None
    fetched, total = await lineage.list(
        execution_id=resolved,
        route_id=route_id,
        adapter_name=adapter_name,
        stage_name=stage_name,
        status=status,
        correlation_id=correlation_id,
        parent_correlation_id=parent_correlation_id,
        is_root=is_root,
        replay_batch_id=replay_batch_id,
        batch_id=batch_id,
        url=url,
        title=title,
        origin=origin,
        document_id=document_id,
        started_after=started_after,
        started_before=started_before,
        sort_by=sort_by,
        sort_order=sort_order,
        limit=limit + 1,
        offset=skip,
        after=after,
    )
    return _keyset_page(scope, fetched, sort_by, total=total, limit=limit, offset=skip, cursor=cursor)


def _keyset_page(
    scope: CursorScope,
    fetched: list[PipelineLineageEntry],
    sort_by: str,
    *,
    total: int,
    limit: int,
    offset: int,
    cursor: str | None,
) -> LineageListResponse:
    rows, more = split_extra(fetched, limit)
    next_cursor = scope.encode(getattr(rows[-1], sort_by), rows[-1].id) if more and rows else None
    fields = keyset_page_fields(
        total=total, limit=limit, offset=offset, count=len(rows), cursor=cursor, more=more, next_cursor=next_cursor
    )
    return LineageListResponse(**fields, entries=_entries(rows))


@router.get(
    "/failures",
    response_model=LineageListResponse,
    responses=errors(404),
    summary="Failed rows",
    operation_id="list_lineage_failures",
)
async def list_failures(
    executions: ExecutionRepositoryDep,
    lineage: LineageRepositoryDep,
    request: Request,
    execution_id: str | None = None,
    route_id: str | None = None,
    adapter_name: str | None = None,
    started_after: QueryDatetime | None = None,
    limit: Limit = 100,
    offset: OptionalOffset = 0,
    cursor: CursorParam = None,
) -> LineageListResponse:
    """Rows with `stage_status = failed`, newest `completed_at` first; follow `next_cursor` for deep pages."""
    skip = check_paging(request, cursor, offset)
    resolved = await _execution_id(executions, execution_id)
    scope = CursorScope(
        "lineage_failures",
        {"execution_id": resolved, "route_id": route_id, "adapter_name": adapter_name, "started_after": started_after},
        nullable=True,
    )
    after = scope.decode(cursor) if cursor is not None else None
    fetched, total = await lineage.failures(
        execution_id=resolved,
        route_id=route_id,
        adapter_name=adapter_name,
        started_after=started_after,
        limit=limit + 1,
        offset=skip,
        after=after,
    )
    return _keyset_page(scope, fetched, "completed_at", total=total, limit=limit, offset=skip, cursor=cursor)


@router.get(
    "/stats",
    response_model=LineageStatsResponse,
    responses=errors(404),
    summary="Counts per route × adapter",
    operation_id="get_lineage_stats",
)
async def lineage_stats(
    executions: ExecutionRepositoryDep, lineage: LineageRepositoryDep, execution_id: str
) -> LineageStatsResponse:
    """Row counts per route and adapter of one execution (id or tag)."""
    execution = await executions.resolve(execution_id)
    route_order = await asyncio.to_thread(execution.config_snapshot.declared_route_ids)
    stats = await lineage.stats(execution.execution_id, route_order=route_order)
    return LineageStatsResponse.model_validate(stats.to_api_dict())


@router.get(
    "/batch/{batch_id}",
    response_model=LineageBatchResponse,
    responses=errors(404),
    summary="Rows of a batch",
    operation_id="list_lineage_batch",
)
async def lineage_batch(
    batch_id: str,
    lineage: LineageRepositoryDep,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Offset = 0,
) -> LineageBatchResponse:
    """Rows whose `replay_batch_id` or `batch_id` matches; 404 `batch_not_found` when none."""
    batch = await lineage.batch(batch_id, limit=limit, offset=offset)
    if batch is None:
        raise ApiError(404, "batch_not_found", f"No lineage rows belong to batch {batch_id!r}.")
    return LineageBatchResponse(
        **page_fields(total=batch.total, limit=limit, offset=offset, count=len(batch.entries)),
        entries=_entries(batch.entries),
        batch_id=batch.batch_id,
        kind=batch.kind,
    )


async def _correlation_id(lineage: LineageRepository, lineage_id: str) -> tuple[str, str | None]:
    """The message a `{lineage_id}` names, and the row id when a row id was given."""
    entry = await lineage.get_entry(lineage_id)
    if entry is not None:
        return entry.correlation_id, entry.id
    correlation_id = await lineage.resolve(lineage_id)
    if correlation_id is None:
        raise ApiError(404, "lineage_not_found", f"No lineage row or message has the id {lineage_id!r}.")
    return correlation_id, None


@router.get(
    "/{lineage_id}",
    response_model=LineageMessageResponse,
    responses=errors(404),
    summary="One message, all rows",
    operation_id="get_lineage_message",
)
async def lineage_message(lineage_id: str, lineage: LineageRepositoryDep) -> LineageMessageResponse:
    """The message (depth 0) a row id or correlation id names."""
    correlation_id, entry_id = await _correlation_id(lineage, lineage_id)
    message = await lineage.message(correlation_id)
    if message is None:
        raise ApiError(404, "lineage_not_found", f"No lineage rows for message {lineage_id!r}.")
    return LineageMessageResponse.model_validate({**message.to_api_dict(), "requested_entry_id": entry_id})


@router.get(
    "/{lineage_id}/chain",
    response_model=LineageChainResponse,
    responses=errors(404),
    summary="Ancestors and descendants",
    operation_id="get_lineage_chain",
)
async def lineage_chain(
    lineage_id: str,
    lineage: LineageRepositoryDep,
    max_depth: Annotated[int, Query(ge=1, le=1000)] = 100,
    max_messages: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> LineageChainResponse:
    """Ancestors (root first, across executions), the message, and descendants (breadth-first)."""
    correlation_id, _ = await _correlation_id(lineage, lineage_id)
    chain = await lineage.chain(correlation_id, max_depth=max_depth, max_messages=max_messages)
    if chain is None:
        raise ApiError(404, "lineage_not_found", f"No lineage rows for message {lineage_id!r}.")
    return LineageChainResponse.model_validate(chain.to_api_dict())


@router.get(
    "/{lineage_id}/children",
    response_model=LineageChildrenResponse,
    responses=errors(404),
    summary="Direct children",
    operation_id="list_lineage_children",
)
async def lineage_children(
    lineage_id: str, lineage: LineageRepositoryDep, limit: Limit = 100, offset: Offset = 0
) -> LineageChildrenResponse:
    """The direct children (depth 1), by `started_at`."""
    correlation_id, _ = await _correlation_id(lineage, lineage_id)
    children, total = await lineage.children(correlation_id, limit=limit, offset=offset)
    return LineageChildrenResponse.model_validate(
        {
            "correlation_id": correlation_id,
            **page_fields(total=total, limit=limit, offset=offset, count=len(children)),
            "children": [child.to_api_dict() for child in children],
        }
    )
