"""Lineage rows a dead worker process took with it, written back before an execution's final stats."""

from __future__ import annotations

import logging

from factflow_engine.config import PipelineGlobalConfig
from factflow_engine.runtime import LineageCounts
from factflow_foundation import derive_message_id
from factflow_lineage import LineageRecorder, LineageRepository
from factflow_protocols import StorageProtocol

from ._lineage_index import LineageIndex
from ._lineage_rebuild import close_interrupted_rows, rebuild_lineage

__all__ = ("LineageRepair",)

logger = logging.getLogger(__name__)

_FLUSH_SECONDS = 10.0


class LineageRepair:
    """Recovery step 5 for one running execution whose worker died (docs/concepts/workers.md).

    A worker buffers lineage rows and writes them in batches; killed, it loses the batch it held,
    although the messages those rows describe were stored and acked. When such an execution ends,
    the leader rebuilds the missing `completed` rows from the stored outputs' sidecars and closes
    the rows the dead worker left `pending` or `processing`, exactly as recovery does after a
    server crash, so the final stats and the lineage stay whole.

    Args:
        repository: Reads the execution's lineage rows.
        storage: The stage outputs and their sidecars.
        recorder: Writes the rebuilt and closed rows.
    """

    def __init__(self, *, repository: LineageRepository, storage: StorageProtocol, recorder: LineageRecorder) -> None:
        self._repository = repository
        self._storage = storage
        self._recorder = recorder

    async def __call__(self, execution_id: str, config: PipelineGlobalConfig) -> int:
        """Rebuild and close what is missing; returns how many rows were written."""
        # Rows this process still buffers must be in the database before it is compared with storage.
        await self._recorder.flush(execution_id, timeout=_FLUSH_SECONDS)
        index = await LineageIndex.load(self._repository, execution_id)
        rebuilt = await rebuild_lineage(execution_id=execution_id, config=config, storage=self._storage, index=index)
        closed = close_interrupted_rows(index, rebuilt)
        for record in [*rebuilt, *closed]:
            self._recorder.record(record)
        if (rebuilt or closed) and not await self._recorder.flush(execution_id, timeout=_FLUSH_SECONDS):
            logger.warning("Repaired lineage of execution %s was not fully written", execution_id)
        if rebuilt or closed:
            logger.info(
                "Execution %s: %d lineage row(s) rebuilt and %d closed after a worker died",
                execution_id,
                len(rebuilt),
                len(closed),
            )
        return len(rebuilt) + len(closed)

    async def counts(self, execution_id: str, config: PipelineGlobalConfig) -> LineageCounts:
        """The execution's deliveries and dead letters as lineage counts them (`LineageCountsCallable`).

        A shared execution whose queues lost their state (a Redis restart without persistence)
        takes its final `message_counts` from here: each (route, message) with rows is one
        delivery, except the children a route's own fan-out continues in that route (they never
        travelled through its queue).
        """
        await self._recorder.flush(execution_id, timeout=_FLUSH_SECONDS)
        index = await LineageIndex.load(self._repository, execution_id)
        return count_deliveries(index, config)


def count_deliveries(index: LineageIndex, config: PipelineGlobalConfig) -> LineageCounts:
    """Deliveries and dead-lettered messages of `index` (see `LineageRepair.counts`)."""
    continued: set[tuple[str, str]] = set()
    for (route_id, message_id), facts in index.rows.items():
        route = config.routes.get(route_id)
        if route is None:
            continue
        last = len(route.adapters) - 1
        for fact in facts:
            if fact.status == "completed" and fact.result in ("emitted", "both") and fact.adapter_index < last:
                continued.update(
                    (route_id, derive_message_id(message_id, route_id, str(fact.adapter_index), str(position)))
                    for position in range(fact.emitted_count)
                )
    delivered = sum(1 for key in index.rows if key not in continued)
    return LineageCounts(delivered=delivered, dead_lettered=len(index.dead_lettered))
