"""Worker endpoints W1/W2 (docs/reference/http-api.md, docs/guides/scaling.md)."""

from __future__ import annotations

import time

from fastapi import APIRouter

from .._deps import WorkerMonitorDep
from .._errors import ApiError
from ..schemas._workers import Worker, WorkerListResponse
from ._common import API_PREFIX, ERROR_RESPONSES, errors

__all__ = ("router",)

router = APIRouter(prefix=f"{API_PREFIX}/workers", tags=["workers"], responses=ERROR_RESPONSES)


@router.get("", response_model=WorkerListResponse, summary="Every known worker", operation_id="list_workers")
async def list_workers(monitor: WorkerMonitorDep) -> WorkerListResponse:
    """Running, draining and recently dead workers (dead ones stay listed for an hour), by `id`."""
    records = await monitor.records()
    now = time.time()
    return WorkerListResponse(
        workers=[Worker.of(record, now=now, local_worker_id=monitor.local_worker_id) for record in records]
    )


@router.get(
    "/{worker_id}",
    response_model=Worker,
    responses=errors(404),
    summary="One worker",
    operation_id="get_worker",
)
async def get_worker(worker_id: str, monitor: WorkerMonitorDep) -> Worker:
    """One worker; 404 `worker_not_found` when it is unknown, deregistered or long dead."""
    record = await monitor.get(worker_id)
    if record is None:
        raise ApiError(404, "worker_not_found", f"No worker with id {worker_id!r}.", context={"worker_id": worker_id})
    return Worker.of(record, now=time.time(), local_worker_id=monitor.local_worker_id)
