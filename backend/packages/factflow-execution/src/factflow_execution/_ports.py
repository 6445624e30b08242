"""What the execution service needs from the engine's manager, and the replay seam."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from factflow_engine._ports import OrchestratorCallbacks
from factflow_engine.config import ConfigSnapshot

from ._models import PipelineExecution
from ._stats import LiveRouteState

__all__ = ("ExecutionManager", "ExecutionSlot", "LiveMessageCounts", "ReplayCoordinator")


class ExecutionSlot(Protocol):
    """A slot held between `reserve()` and `start()` (`ExecutionReservation`)."""

    @property
    def execution_id(self) -> str: ...

    def release(self) -> None:
        """Give the slot back when the execution will not be started; no-op once started."""
        ...


class LiveMessageCounts(Protocol):
    """Live completion counters (`factflow_engine.runtime.MessageCounts`)."""

    def as_dict(self) -> dict[str, int]: ...


class ExecutionManager(Protocol):
    """The parts of `factflow_engine.runtime.OrchestratorManager` the service uses."""

    def reserve(self, execution_id: str) -> ExecutionSlot:
        """Hold a slot (raises `TooManyConcurrentExecutionsError` at the cap)."""
        ...

    async def reserve_when_free(self, execution_id: str) -> ExecutionSlot:
        """Wait for a slot; waiters take freed slots before new `reserve()` calls."""
        ...

    async def start(
        self,
        reservation: Any,
        snapshot: ConfigSnapshot,
        *,
        callbacks: OrchestratorCallbacks,
        skip_init: bool = False,
        seed: Any = None,
        root_correlation_id: str | None = None,
        init_payload: dict[str, Any] | None = None,
        config_id: str | None = None,
        replay_batch_id: str | None = None,
        source: str | None = None,
    ) -> Any:
        """Start the reserved execution; returns once its init message is published.

        Raises `ExecutionStartError` after calling `callbacks.on_stopped(..., "failed", ...)`.
        """
        ...

    def is_live(self, execution_id: str) -> bool: ...

    def cancel(self, execution_id: str) -> bool:
        """Start cancelling; False when the execution is not live here."""
        ...

    def message_counts(self, execution_id: str) -> LiveMessageCounts | None: ...

    def route_statuses(self, execution_id: str) -> Sequence[LiveRouteState]: ...


@runtime_checkable
class ReplayCoordinator(Protocol):
    """Creates replay executions; implemented by `factflow_replay.ReplayService`."""

    async def replay(self, parent_ref: str, request: Any) -> PipelineExecution:
        """Resolve the request against the source execution `parent_ref` and start a new execution."""
        ...
