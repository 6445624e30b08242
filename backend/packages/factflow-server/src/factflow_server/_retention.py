"""Lineage retention (docs/guides/retention.md): delete the lineage rows of long-finished executions.

Every `interval` seconds it looks for executions that are `completed`, `failed` or `cancelled`,
whose lineage is not yet deleted, and that finished longer ago than their horizon: the
execution's own `lineage_retention_days` when it was started with one, else
`FACTFLOW_LINEAGE_RETENTION_DAYS`. Their rows go in batches of `DELETE_BATCH_ROWS` per
statement with a short pause in between, so the lineage writer never waits long; then
`lineage_purged_at` is set. The execution row, its frozen stats and its stored objects stay.

Each pass first compacts finished executions' route counters: the per-message counter rows
(`pipeline_lineage_messages`) of sealed routes are deleted in the same kind of batches. An
execution's routes are sealed when it ends with its route counts frozen; the pass seals those of
final executions with frozen counts that ending left unsealed (a failed attempt, rows written
before the seal existed).

`running` and `interrupted` executions are never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Text, and_, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_execution import ExecutionStatus, PipelineExecutionRepository, PipelineExecutionRow
from factflow_lineage import LineageRepository, LineageRouteRow

from ._sweeper import PeriodicSweep

__all__ = ("LineageRetention",)

logger = logging.getLogger(__name__)

_FINAL: tuple[ExecutionStatus, ...] = ("completed", "failed", "cancelled")
_EXECUTIONS_PER_PASS = 100


class LineageRetention(PeriodicSweep):
    """Deletes expired lineage; `run()` loops until `shutdown()`.

    Args:
        sessions: Database sessions (reads `pipeline_executions`).
        executions: Writes `lineage_purged_at`.
        lineage: Deletes the rows in batches.
        retention_days: The server-wide horizon; `None` keeps lineage of executions without
            their own `lineage_retention_days`.
        interval_seconds: Time between passes.
        batch_pause_seconds: Pause between two `DELETE` statements.
        clock: Current time (tests move it forward).
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        executions: PipelineExecutionRepository,
        lineage: LineageRepository,
        retention_days: float | None,
        interval_seconds: float = 3600.0,
        batch_pause_seconds: float = 0.05,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(name="lineage-retention", interval_seconds=interval_seconds)
        self._sessions = sessions
        self._executions = executions
        self._lineage = lineage
        self._retention_days = retention_days
        self._pause = batch_pause_seconds
        self._clock = clock

    async def sweep(self) -> int:
        """Compact sealed route counters, then delete the lineage of every execution past its horizon.

        Returns the lineage rows deleted.
        """
        await self.compact()
        deleted = 0
        while not self._stop.is_set():
            due = await self._due(self._clock())
            if not due:
                break
            for execution_id in due:
                rows = await self._lineage.delete_execution_rows(execution_id, pause_seconds=self._pause)
                await self._executions.update_fields(
                    execution_id, {"lineage_purged_at": self._clock()}, when_status=_FINAL
                )
                logger.info("lineage retention: deleted %d row(s) of execution %s", rows, execution_id)
                deleted += rows
                if self._stop.is_set():
                    break
            if len(due) < _EXECUTIONS_PER_PASS:
                break
        return deleted

    async def compact(self) -> int:
        """Seal the routes of final executions with frozen counts, then delete sealed routes' message rows.

        Returns the message rows deleted.
        """
        for execution_id in await self._unsealed_frozen():
            await self._lineage.seal_route_counters(execution_id)
            if self._stop.is_set():
                return 0
        rows = await self._lineage.compact_sealed_messages(pause_seconds=self._pause)
        if rows:
            logger.info("lineage retention: deleted %d message counter row(s) of finished executions", rows)
        return rows

    async def _unsealed_frozen(self) -> list[str]:
        """Final executions whose route counts are frozen but whose route counters are not all sealed."""
        execution, route = PipelineExecutionRow, LineageRouteRow
        # `route_counts` not frozen is SQL NULL, or JSON `null` when written as `None`.
        frozen = cast(execution.route_counts, Text) != "null"
        async with self._sessions() as session:
            ids = await session.scalars(
                select(route.execution_id)
                .join(execution, execution.id == route.execution_id)
                .where(route.sealed.is_(False), execution.status.in_(_FINAL), frozen)
                .distinct()
                .limit(_EXECUTIONS_PER_PASS)
            )
            return list(ids)

    async def _due(self, now: datetime) -> list[str]:
        row = PipelineExecutionRow
        own = row.lineage_retention_days
        expired = []
        if self._retention_days is not None:
            expired.append(and_(own.is_(None), row.completed_at <= now - timedelta(days=self._retention_days)))
        async with self._sessions() as session:
            # Executions with their own horizon are few; their cut-off is compared here, not in SQL,
            # because date arithmetic with a column differs between PostgreSQL and SQLite.
            custom = await session.execute(
                select(row.id, row.completed_at, own).where(
                    row.status.in_(_FINAL),
                    row.lineage_purged_at.is_(None),
                    row.completed_at.is_not(None),
                    own.is_not(None),
                    row.completed_at <= now,
                )
            )
            due: list[str] = []
            for execution_id, completed_at, days in custom.all():
                if completed_at is None or days is None or len(due) >= _EXECUTIONS_PER_PASS:
                    continue  # excluded by the query; this only narrows the types
                if completed_at + timedelta(days=days) <= now:
                    due.append(execution_id)
            if expired and len(due) < _EXECUTIONS_PER_PASS:
                ids = await session.scalars(
                    select(row.id)
                    .where(row.status.in_(_FINAL), row.lineage_purged_at.is_(None), or_(*expired))
                    .order_by(row.completed_at)
                    .limit(_EXECUTIONS_PER_PASS - len(due))
                )
                due.extend(ids)
        return due
