"""Stats and route statuses computed from lineage, the manager and the row."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from factflow_lineage import LineageRepository

from ._models import PipelineExecution
from ._stats import build_execution_stats, route_counts_to_json
from ._types import ExecutionStatus
from .views import ExecutionStats

__all__ = ("StatsCalculator", "route_order")


def route_order(execution: PipelineExecution) -> list[str]:
    """Route ids in the snapshot's declaration order."""
    return execution.config_snapshot.route_ids()


class StatsCalculator:
    """Builds `ExecutionStats` from lineage row counts and message counters.

    Args:
        lineage: Lineage queries.
    """

    def __init__(self, lineage: LineageRepository) -> None:
        self.lineage = lineage

    async def compute(
        self,
        execution: PipelineExecution,
        *,
        message_counts: Mapping[str, Any] | None,
        status: ExecutionStatus | None = None,
        completed_at: datetime | None = None,
        now: datetime | None = None,
    ) -> ExecutionStats:
        """Current stats of `execution` (lineage rows may trail by one flush interval)."""
        stage_counts = await self.lineage.stage_counts(execution.execution_id)
        adapters = await self.lineage.stats(execution.execution_id, route_order=route_order(execution))
        return build_execution_stats(
            execution,
            stage_counts=stage_counts,
            adapter_rows=adapters.rows,
            message_counts=message_counts,
            status=status,
            completed_at=completed_at,
            now=now,
        )

    async def route_counts(self, execution: PipelineExecution) -> dict[str, Any]:
        """Per-route message counts from the lineage counters, stored as `route_counts` at the end."""
        return route_counts_to_json(await self.lineage.route_counters(execution.execution_id))
