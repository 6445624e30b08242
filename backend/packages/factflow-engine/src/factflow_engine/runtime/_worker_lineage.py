"""The end of a shared execution: every worker's lineage rows written first (docs/concepts/workers.md)."""

from __future__ import annotations

import asyncio
import logging

from factflow_engine.config import PipelineGlobalConfig
from factflow_protocols import QueueError

from ._shared import LineageRepairCallable, SharedExecutionState

__all__ = ("repair_worker_lineage", "wait_for_worker_lineage")

logger = logging.getLogger(__name__)

_FLUSH_WAIT_SECONDS = 10.0
"""How long the leader waits for workers to flush an ending execution's lineage rows."""
_FLUSH_POLL_SECONDS = 0.1


async def wait_for_worker_lineage(
    shared: SharedExecutionState, execution_id: str, *, within: float = _FLUSH_WAIT_SECONDS
) -> None:
    """Ask the workers of the execution to flush its lineage rows, and wait (bounded) until they did."""
    try:
        await shared.request_flush(execution_id)
        async with asyncio.timeout(within):
            while waiting := await shared.unflushed_workers(execution_id):
                logger.debug("Execution %r: waiting for lineage of %s", execution_id, sorted(waiting))
                await asyncio.sleep(_FLUSH_POLL_SECONDS)
    except TimeoutError:
        logger.warning("Execution %r: workers did not flush lineage within %.0f s; stats may lag", execution_id, within)
    except QueueError as exc:
        logger.warning("Execution %r: could not ask workers to flush lineage: %s", execution_id, exc)


async def repair_worker_lineage(
    shared: SharedExecutionState,
    execution_id: str,
    config: PipelineGlobalConfig,
    repair: LineageRepairCallable | None,
) -> None:
    """A worker that joined and never flushed died with rows in its buffer: write them back."""
    if repair is None:
        return
    try:
        lost = await shared.unflushed_workers(execution_id, live_only=False)
        if lost:
            logger.warning(
                "Execution %r: worker(s) %s died before flushing lineage; rebuilding it",
                execution_id,
                ", ".join(sorted(lost)),
            )
            await repair(execution_id, config)
    except Exception:
        logger.exception("Execution %r: repairing lineage after a dead worker failed", execution_id)
