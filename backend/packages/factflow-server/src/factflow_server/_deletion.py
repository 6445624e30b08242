"""Deleting a finished execution with everything it left behind (docs/guides/retention.md).

Order: stored objects (the `executions/<id>/` prefix), queues (every ordinary queue and DLQ of
the snapshot, then whatever else is left under the execution's queue prefix), lineage rows in
bounded batches, and the execution row last. A failure part-way leaves the row in place, so
repeating the request finishes the job.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from factflow_engine.runtime import OrchestratorManager, scoped_queue_name, scoped_queue_prefix
from factflow_execution import FINAL_STATUSES, PipelineExecution, PipelineExecutionRepository
from factflow_infra.queue import MemoryQueueProvider, RedisStreamsQueueProvider
from factflow_infra.storage import StorageProvider
from factflow_lineage import LineageRepository

from ._errors import ApiError

__all__ = ("ExecutionDeletion", "ExecutionRemover")

logger = logging.getLogger(__name__)

_DELETE_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class ExecutionDeletion:
    """What `delete_execution` removed."""

    execution_id: str
    status: str
    objects: int
    """Stored objects (each with its sidecar)."""
    queues: int
    """Queue keys (streams, DLQs, dedupe sets)."""
    lineage_rows: int


def _refuse_unfinished(execution: PipelineExecution, *, live: bool) -> None:
    if execution.status in FINAL_STATUSES and not live:
        return
    raise ApiError(
        409,
        "execution_not_finished",
        f"Execution {execution.execution_id} is {execution.status}; cancel it and wait until it has stopped "
        "before deleting it.",
        context={"execution_id": execution.execution_id, "current_status": execution.status},
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRemover:
    """Deletes finished executions: what it needs of the server, and nothing more."""

    executions: PipelineExecutionRepository
    manager: OrchestratorManager
    """Whether an execution still runs here."""
    storage: StorageProvider
    queue: MemoryQueueProvider | RedisStreamsQueueProvider
    lineage: LineageRepository

    async def delete(self, ref: str) -> ExecutionDeletion:
        """Delete a finished execution (id or tag) with its stored objects, queues and lineage.

        Raises:
            ExecutionNotFoundError: Nothing matches `ref` (404 `execution_not_found`).
            ApiError: 409 `execution_not_finished` while it is `running` or `interrupted`.
        """
        execution = await self.executions.resolve(ref)
        execution_id = execution.execution_id
        _refuse_unfinished(execution, live=self.manager.is_live(execution_id))
        objects = await self._delete_objects(execution_id)
        queues = await self._delete_queues(execution)
        rows = await self.lineage.delete_execution_rows(execution_id)
        if not await self.executions.delete(execution_id, when_status=tuple(FINAL_STATUSES)):
            # It changed or vanished meanwhile: answer with what it is now (404 or 409).
            current = await self.executions.resolve(execution_id)
            _refuse_unfinished(current, live=self.manager.is_live(execution_id))
        logger.info(
            "deleted execution %s (%s): %d object(s), %d queue key(s), %d lineage row(s)",
            execution_id,
            execution.status,
            objects,
            queues,
            rows,
        )
        return ExecutionDeletion(
            execution_id=execution_id, status=execution.status, objects=objects, queues=queues, lineage_rows=rows
        )

    async def _delete_objects(self, execution_id: str) -> int:
        keys = [key async for key in self.storage.list(f"executions/{execution_id}/")]
        gate = asyncio.Semaphore(_DELETE_CONCURRENCY)

        async def remove(key: str) -> None:
            async with gate:
                await self.storage.delete(key)

        async with asyncio.TaskGroup() as group:
            for key in keys:
                group.create_task(remove(key), name=f"delete:{key}")
        return len(keys)

    async def _delete_queues(self, execution: PipelineExecution) -> int:
        stored = execution.stored_snapshot
        # An unreadable snapshot names no queues; the prefix purge removes them all the same.
        queues = stored.snapshot.all_queues() if stored.problem is None else []
        names = [scoped_queue_name(execution.execution_id, name) for name in sorted(queues)]
        deleted = await self.queue.delete_queues(names) if names else 0
        return deleted + await self.queue.purge_prefix(scoped_queue_prefix(execution.execution_id))
