"""Lineage rows a dead worker process took with it, written back before an execution's final stats."""

from __future__ import annotations

import logging

from factflow_engine.config import PipelineGlobalConfig
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
