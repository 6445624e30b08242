"""Storage endpoints S1–S4 (docs/reference/http-api.md).

`/objects/{key:path}/metadata` is declared before `/objects/{key:path}` so a path ending in
`/metadata` reaches S3.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC
from email.utils import format_datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from factflow_execution import (
    EventStreamerUnavailableError,
    ExecutionEventHub,
    PipelineExecutionRepository,
    StorageEventStreamer,
)
from factflow_foundation import SIDECAR_SUFFIX
from factflow_infra.storage import Delimiter, ListingEntry, ListingPage, ObjectEntry, StorageProvider
from factflow_protocols import InvalidStorageKeyError, StorageNotFoundError, validate_storage_key

from .._cursor import CursorParam, CursorScope, OptionalOffset, check_paging
from .._deps import EventHubDep, ExecutionRepositoryDep, StorageDep, StorageStreamerDep
from .._errors import ApiError
from .._params import LastEventId, QueryBool, TimeoutSeconds
from .._sse import event_stream_response
from .._storage_view import KeyFilter, object_metadata, parse_extensions
from ..schemas._storage import ExecutionPrefix, ListObjectsResponse, ObjectInfo, ObjectMetadata
from ._common import API_PREFIX, ERROR_RESPONSES, errors
from ._paging import keyset_page_fields

__all__ = ("router", "storage_event_stream")

router = APIRouter(prefix=f"{API_PREFIX}/storage", tags=["storage"], responses=ERROR_RESPONSES)

_EXECUTION_PREFIX = re.compile(r"^executions/([0-9a-fA-F-]{36})/")


def _check_key(key: str, *, allow_prefix: bool = False) -> str:
    try:
        validate_storage_key(key, allow_prefix=allow_prefix)
    except InvalidStorageKeyError as exc:
        raise ApiError(422, "invalid_key", exc.message, context={"key": key[:200]}) from exc
    return key


async def _metadata_or_none(storage: StorageProvider, key: str) -> ObjectMetadata | None:
    try:
        return object_metadata(await storage.read_metadata(key))
    except StorageNotFoundError:
        return None  # deleted between listing and reading


async def _execution_prefixes(executions: PipelineExecutionRepository, page: ListingPage) -> list[ExecutionPrefix]:
    keys = [entry.key for entry in page.objects] + list(page.common_prefixes)
    found: dict[str, str] = {}
    for key in keys:
        match = _EXECUTION_PREFIX.match(key)
        if match is not None:
            found.setdefault(match.group(0), match.group(1))
    prefixes = []
    for prefix, execution_id in found.items():
        execution = await executions.find(execution_id)
        prefixes.append(
            ExecutionPrefix(
                prefix=prefix,
                execution_id=execution_id,
                status=execution.status if execution else None,
                config_id=execution.config_id if execution else None,
                config_name=execution.config_name if execution else None,
                tag=execution.tag if execution else None,
                started_at=execution.started_at if execution else None,
            )
        )
    return prefixes


@router.get(
    "/objects",
    response_model=ListObjectsResponse,
    responses=errors(404),
    summary="List objects",
    operation_id="list_storage_objects",
)
async def list_objects(
    executions: ExecutionRepositoryDep,
    storage: StorageDep,
    request: Request,
    prefix: str = "",
    delimiter: Literal["/"] | None = None,
    execution_id: str | None = None,
    route_id: str | None = None,
    stage: str | None = None,
    correlation_id: str | None = None,
    extension: str | None = None,
    include_metadata: Annotated[QueryBool, Query()] = True,
    include_execution_info: Annotated[QueryBool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OptionalOffset = 0,
    cursor: CursorParam = None,
) -> ListObjectsResponse:
    """Objects (and, with `delimiter=/`, sub-folders) in key order, paged together.

    Follow `next_cursor` to continue after the last key of a page.
    """
    skip = check_paging(request, cursor, offset)
    _check_key(prefix, allow_prefix=True)
    resolved_execution = None
    if execution_id is not None:
        resolved_execution = (await executions.resolve(execution_id)).execution_id
    scope = CursorScope(
        "storage_objects",
        {
            "prefix": prefix,
            "delimiter": delimiter,
            "execution_id": resolved_execution,
            "route_id": route_id,
            "stage": stage,
            "correlation_id": correlation_id,
            "extension": extension,
        },
        position_type="str",
    )
    after_key = scope.decode(cursor)[0] if cursor is not None else None
    key_filter = KeyFilter(
        execution_id=resolved_execution,
        route_id=route_id,
        stage=stage,
        correlation_id=correlation_id,
        extensions=parse_extensions(extension),
    )
    listing_prefix: str | None = prefix if delimiter is not None else key_filter.narrowest_prefix(prefix)
    include = None if key_filter.is_empty else key_filter.accepts
    if listing_prefix is None:
        page = ListingPage(prefix=prefix, delimiter=delimiter, entries=(), total=0, limit=limit, offset=skip)
        more = False
    elif after_key is not None:
        page, more = await _page_after(storage, listing_prefix, delimiter, include, after_key=after_key, limit=limit)
    else:
        page = await storage.list_page(listing_prefix, delimiter=delimiter, limit=limit, offset=skip, include=include)
        more = page.has_more
    objects: list[ObjectInfo] = []
    metadata: list[ObjectMetadata | None] = [None] * len(page.objects)
    if include_metadata and page.objects:
        metadata = list(await asyncio.gather(*(_metadata_or_none(storage, entry.key) for entry in page.objects)))
    for entry, meta in zip(page.objects, metadata, strict=True):
        objects.append(_object_info(entry, meta))
    last = page.entries[-1].sort_key if page.entries else None
    next_cursor = scope.encode(last, last) if more and last is not None else None
    return ListObjectsResponse(
        prefix=prefix,
        delimiter=delimiter,
        **keyset_page_fields(
            total=page.total,
            limit=limit,
            offset=skip,
            count=len(page.entries),
            cursor=cursor,
            more=more,
            next_cursor=next_cursor,
        ),
        objects=objects,
        common_prefixes=list(page.common_prefixes),
        execution_prefixes=await _execution_prefixes(executions, page) if include_execution_info else [],
    )


async def _page_after(
    storage: StorageProvider,
    listing_prefix: str,
    delimiter: Delimiter | None,
    include: Callable[[ListingEntry], bool] | None,
    *,
    after_key: str,
    limit: int,
) -> tuple[ListingPage, bool]:
    """The entries after `after_key` (at most `limit`), the total over all pages, and whether more follow."""
    window: list[ListingEntry] = []
    total = 0
    more = False
    async for entry in storage.list_entries(listing_prefix, delimiter=delimiter):
        if include is not None and not include(entry):
            continue
        total += 1
        if entry.sort_key > after_key:
            if len(window) < limit:
                window.append(entry)
            else:
                more = True
    page = ListingPage(
        prefix=listing_prefix, delimiter=delimiter, entries=tuple(window), total=total, limit=limit, offset=0
    )
    return page, more


def _object_info(entry: ObjectEntry, metadata: ObjectMetadata | None) -> ObjectInfo:
    content_type = metadata.content_type if metadata is not None else entry.content_type
    return ObjectInfo(
        key=entry.key,
        size=entry.size,
        content_type=content_type,
        last_modified=entry.last_modified,
        etag=entry.etag,
        metadata=metadata,
    )


@router.get(
    "/objects/{key:path}/metadata",
    response_model=ObjectMetadata,
    responses=errors(404),
    summary="Sidecar metadata",
    operation_id="get_storage_object_metadata",
)
async def get_object_metadata(key: str, storage: StorageDep) -> ObjectMetadata:
    """The object's metadata; 404 only when the object is missing."""
    _check_key(key)
    return object_metadata(await storage.read_metadata(key))


def _content_disposition(key: str) -> str:
    name = key.rsplit("/", 1)[-1].replace("\\", "\\\\").replace('"', '\\"')
    return f'inline; filename="{name}"'


@router.get(
    "/objects/{key:path}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The object's bytes"},
        **errors(404),
    },
    summary="Object bytes",
    operation_id="get_storage_object",
)
async def get_object(key: str, storage: StorageDep) -> Response:
    """The whole object with `Content-Type`, `ETag`, `Last-Modified` and `Content-Disposition`."""
    _check_key(key)
    if key.endswith(SIDECAR_SUFFIX):
        raise ApiError(422, "invalid_key", f"Storage key {key!r} ends in the reserved suffix {SIDECAR_SUFFIX!r}.")
    data = await storage.read(key)
    raw: dict[str, Any] = {}
    try:
        raw = await storage.read_metadata(key)
    except StorageNotFoundError:
        pass
    headers = {"Content-Disposition": _content_disposition(key)}
    metadata = object_metadata(raw) if raw else None
    if metadata is not None and metadata.checksum:
        headers["ETag"] = f'"{metadata.checksum}"'
    modified = metadata.modified_at or metadata.created_at if metadata is not None else None
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified.astimezone(UTC), usegmt=True)
    content_type = metadata.content_type if metadata is not None else None
    if not content_type:
        content_type = "application/json" if key.endswith(".json") else "application/octet-stream"
    return Response(content=data, media_type=content_type, headers=headers)


async def storage_event_stream(
    hub: ExecutionEventHub,
    executions: PipelineExecutionRepository,
    streamer: StorageEventStreamer,
    refs: list[str],
    *,
    route_id: str | None,
    stage: str | None,
    path: str | None,
    extension: str | None,
    lifetime: float,
    keep_open: bool,
    last_event_id: str | None,
) -> StreamingResponse:
    """S4/E14: resolve every ref (404) and check the hub (503) before the stream opens."""
    execution_ids = [(await executions.resolve(ref)).execution_id for ref in refs]
    if hub.is_closed:
        raise EventStreamerUnavailableError("The event streamer is shut down.")
    events = streamer.stream(
        execution_ids,
        route_id=route_id,
        stage=stage,
        path=path,
        extension=extension,
        timeout=lifetime,
        keep_open=keep_open,
        last_event_id=last_event_id,
    )
    return event_stream_response(events)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, **errors(404)},
    summary="Live storage writes",
    operation_id="stream_storage_events",
)
async def storage_events(
    hub: EventHubDep,
    executions: ExecutionRepositoryDep,
    streamer: StorageStreamerDep,
    execution_id: Annotated[list[str], Query(min_length=1, max_length=20)],
    route_id: str | None = None,
    stage: str | None = None,
    path: str | None = None,
    extension: str | None = None,
    lifetime: TimeoutSeconds = 300,
    keep_open: Annotated[QueryBool, Query()] = False,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """`storage.object.created` and `execution.finished` for 1–20 executions (ids or tags)."""
    return await storage_event_stream(
        hub,
        executions,
        streamer,
        execution_id,
        route_id=route_id,
        stage=stage,
        path=path,
        extension=extension,
        lifetime=lifetime,
        keep_open=keep_open,
        last_event_id=last_event_id,
    )
