"""Seams between the engine runtime and the layers above it (execution, server)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from factflow_protocols import EngineEvent, ErrorInfo

__all__ = (
    "EngineEventSink",
    "FinalStatus",
    "OrchestratorCallbacks",
    "PauseStateStore",
    "RoutePause",
)

FinalStatus = Literal["completed", "failed", "cancelled", "interrupted"]


@runtime_checkable
class EngineEventSink(Protocol):
    """Receives engine events; must never block or raise (the hub swallows and logs)."""

    def emit(self, execution_id: str, event: EngineEvent) -> None:
        """Deliver one event (`factflow_protocols.EngineEvent`, the closed set of them).

        The sink adds `type`, `timestamp` and `execution_id` to `event.data()`
        (docs/reference/http-api.md#server-sent-events).
        """
        ...


@runtime_checkable
class OrchestratorCallbacks(Protocol):
    """Told when an execution starts and stops; the manager frees the slot after `on_stopped`."""

    async def on_started(self, execution_id: str) -> None: ...

    async def on_stopped(
        self,
        execution_id: str,
        status: FinalStatus,
        error_info: ErrorInfo | None,
        message_counts: dict[str, int],
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class RoutePause:
    """The stored pause flag of one route name."""

    route_id: str
    paused: bool
    paused_at: datetime | None
    reason: str | None


@runtime_checkable
class PauseStateStore(Protocol):
    """Persists global route pause flags (table `route_pause_state`) so pauses survive restarts."""

    async def set_paused(self, route_id: str, *, paused: bool, reason: str | None = None) -> RoutePause:
        """Store the flag and return the stored state."""
        ...

    async def load_paused(self) -> dict[str, RoutePause]:
        """Every route currently paused, by route id."""
        ...
