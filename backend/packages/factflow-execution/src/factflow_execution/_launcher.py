"""`ExecutionLauncher`: the one way an execution starts (create, replay and recovery).

Every start is the same three moves: hold a slot, have a `running` row, start the orchestrator
with the status callbacks that keep the row true. Creating and replaying insert a new row on a
fresh slot (`insert_and_launch`); recovery resumes an existing row on a slot it waited for
(`launch`). Keeping them here means the slot is given back, and a failed start ends the row
`failed` (`start_failed`), the same way for all three.
"""

from __future__ import annotations

import logging

from factflow_engine._ports import OrchestratorCallbacks
from factflow_engine.runtime import SeedCallable
from factflow_foundation import ServiceUnavailableError
from factflow_protocols import ErrorInfo

from ._execution_repository import PipelineExecutionRepository
from ._hub import ExecutionEventHub
from ._models import PipelineExecution
from ._ports import ExecutionManager, ExecutionSlot
from .errors import TagConflictError

__all__ = ("ExecutionLauncher",)

logger = logging.getLogger(__name__)


class ExecutionLauncher:
    """Starts executions on the process's manager with one set of status callbacks.

    Args:
        manager: The process's `OrchestratorManager` (slots and orchestrators).
        executions: Execution rows.
        hub: The event hub (told when a start fails).
        callbacks: The `ExecutionStatusCallbackAdapter` every execution reports to.
    """

    def __init__(
        self,
        *,
        manager: ExecutionManager,
        executions: PipelineExecutionRepository,
        hub: ExecutionEventHub,
        callbacks: OrchestratorCallbacks,
    ) -> None:
        self.manager = manager
        self.executions = executions
        self.hub = hub
        self.callbacks = callbacks

    def reserve(self, execution_id: str) -> ExecutionSlot:
        """Hold a slot now (raises `TooManyConcurrentExecutionsError` at the cap)."""
        return self.manager.reserve(execution_id)

    async def reserve_when_free(self, execution_id: str) -> ExecutionSlot:
        """Wait for a slot; waiters get freed slots before new `reserve()` calls (recovery backlog)."""
        return await self.manager.reserve_when_free(execution_id)

    async def insert_and_launch(
        self,
        execution: PipelineExecution,
        *,
        skip_init: bool = False,
        seed: SeedCallable | None = None,
        lineage_retention_days: float | None = None,
    ) -> PipelineExecution:
        """Reserve a slot, check the tag, insert the `running` row and start it; returns the row.

        Raises:
            TooManyConcurrentExecutionsError: No slot is free (no row was created).
            TagConflictError: Another execution has the tag (no row was created).
            ServiceUnavailableError: The start failed; the row is already `failed` (`start_failed`).
        """
        slot = self.reserve(execution.execution_id)
        try:
            if execution.tag is not None and await self.executions.tag_exists(execution.tag):
                raise TagConflictError(
                    f"Tag {execution.tag!r} is already used by another execution.", context={"tag": execution.tag}
                )
            inserted = await self.executions.insert(execution, lineage_retention_days=lineage_retention_days)
        except BaseException:
            slot.release()
            raise
        await self.launch(inserted, slot, skip_init=skip_init, seed=seed)
        return inserted

    async def launch(
        self,
        execution: PipelineExecution,
        slot: ExecutionSlot,
        *,
        skip_init: bool = False,
        seed: SeedCallable | None = None,
    ) -> None:
        """Start a `running` row on its slot; returns once the init message (if any) is published.

        Raises:
            ServiceUnavailableError: The start failed; the row is already `failed` (`start_failed`)
                and `context.execution_id` names it.
        """
        execution_id = execution.execution_id
        try:
            await self.manager.start(
                slot,
                execution.config_snapshot,
                callbacks=self.callbacks,
                skip_init=skip_init,
                seed=seed,
                root_correlation_id=execution.root_correlation_id,
                init_payload=execution.init_payload,
                config_id=execution.config_id,
                replay_batch_id=execution.replay_batch_id,
                source=str(execution.source),
            )
        except ServiceUnavailableError as exc:
            # ExecutionStartError: the manager already ended the row `failed` (start_failed).
            exc.context.setdefault("execution_id", execution_id)
            raise
        except Exception as exc:
            logger.exception("Execution %s could not start", execution_id)
            slot.release()
            error_info = ErrorInfo("start_failed", f"The execution could not start: {exc}")
            if await self.executions.finish(execution_id, "failed", error_info=error_info):
                self.hub.finish(execution_id, status="failed", previous_status="running", error_info=error_info)
            raise ServiceUnavailableError(
                f"Execution {execution_id} could not start.",
                code="orchestrator_unavailable",
                context={"execution_id": execution_id},
            ) from exc
