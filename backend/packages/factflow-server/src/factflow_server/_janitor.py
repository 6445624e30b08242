"""The queue janitor (docs/guides/deployment.md): purge the queues of finished executions after retention.

Every `interval` seconds it looks at executions that are `completed`, `failed` or `cancelled`:

- `QUEUE_RETENTION_SECONDS` after `completed_at`, their ordinary (non-DLQ) queues are deleted
  and `queues_purged_at` is set;
- `DLQ_RETENTION_SECONDS` after `completed_at`, everything left under the execution's queue
  prefix (DLQs and the dedupe set) is purged and `dlq_purged_at` is set.

`running` and `interrupted` executions are never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_engine.runtime import scoped_queue_name, scoped_queue_prefix
from factflow_execution import ExecutionStatus, PipelineExecutionRepository, PipelineExecutionRow, StoredSnapshot
from factflow_protocols import QueueProtocol

from ._sweeper import PeriodicSweep

__all__ = ("QueueJanitor",)

logger = logging.getLogger(__name__)

_FINAL: tuple[ExecutionStatus, ...] = ("completed", "failed", "cancelled")
_BATCH = 200


class QueueJanitor(PeriodicSweep):
    """Purges finished executions' queues after their retention; `run()` loops until `shutdown()`.

    Args:
        queue: The queue provider.
        sessions: Database sessions (reads `pipeline_executions`).
        executions: Writes the purge stamps.
        queue_retention_seconds: Delay for ordinary queues.
        dlq_retention_seconds: Delay for DLQs.
        interval_seconds: Time between passes.
        clock: Current time (tests move it forward).
    """

    def __init__(
        self,
        *,
        queue: QueueProtocol,
        sessions: async_sessionmaker[AsyncSession],
        executions: PipelineExecutionRepository,
        queue_retention_seconds: float,
        dlq_retention_seconds: float,
        interval_seconds: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(name="queue-janitor", interval_seconds=interval_seconds)
        self._queue = queue
        self._sessions = sessions
        self._executions = executions
        self._queue_retention = timedelta(seconds=queue_retention_seconds)
        self._dlq_retention = timedelta(seconds=dlq_retention_seconds)
        self._clock = clock

    async def sweep(self) -> int:
        """One pass; returns how many purges it did."""
        now = self._clock()
        purged = 0
        for row in await self._due(now):
            finished_at = row.completed_at or row.updated_at or row.started_at
            if row.queues_purged_at is None and finished_at + self._queue_retention <= now:
                stored = StoredSnapshot(row.config_snapshot)
                # An unreadable snapshot names no queues; the prefix purge below still removes them.
                ordinary = stored.snapshot.queues() if stored.problem is None else []
                names = [scoped_queue_name(row.id, name) for name in sorted(ordinary)]
                deleted = await self._queue.delete_queues(names) if names else 0
                await self._executions.update_fields(row.id, {"queues_purged_at": now}, when_status=_FINAL)
                logger.info("janitor: deleted %d queue(s) of execution %s", deleted, row.id)
                purged += 1
            if row.dlq_purged_at is None and finished_at + self._dlq_retention <= now:
                deleted = await self._queue.purge_prefix(scoped_queue_prefix(row.id))
                await self._executions.update_fields(row.id, {"dlq_purged_at": now}, when_status=_FINAL)
                logger.info("janitor: purged %d remaining key(s) of execution %s", deleted, row.id)
                purged += 1
        return purged

    async def _due(self, now: datetime) -> list[PipelineExecutionRow]:
        earliest = min(self._queue_retention, self._dlq_retention)
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PipelineExecutionRow)
                .where(
                    PipelineExecutionRow.status.in_(_FINAL),
                    or_(PipelineExecutionRow.queues_purged_at.is_(None), PipelineExecutionRow.dlq_purged_at.is_(None)),
                    or_(
                        PipelineExecutionRow.completed_at.is_(None),
                        PipelineExecutionRow.completed_at <= now - earliest,
                    ),
                )
                .order_by(PipelineExecutionRow.completed_at)
                .limit(_BATCH)
            )
            return list(rows)
