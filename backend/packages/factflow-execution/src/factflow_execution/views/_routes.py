"""`RouteStatus`: one route of an execution, live or as it ended."""

from __future__ import annotations

from typing import Any, Literal

from ._base import View

__all__ = ("ConcurrencyInfo", "ProcessorState", "RouteStatus")

ProcessorState = Literal["starting", "running", "paused", "stopping", "stopped", "failed"]


class ConcurrencyInfo(View):
    """A route's concurrency limit now."""

    current: int
    max: int


class RouteStatus(View):
    """One route of an execution: queue, processor and per-message progress."""

    route_id: str
    name: str
    inbound_queue: str
    """Logical (normalised) name from the snapshot."""
    outbound_queues: list[str]
    """Logical (normalised) names from the snapshot."""
    scoped_queue: str
    """Physical key `factflow:{<execution_id>}:<queue>`."""
    processor_state: ProcessorState
    paused: bool
    """Global pause flag of the route name."""
    concurrency: ConcurrencyInfo | None
    """`None` when stopped."""
    in_flight: int
    """Messages inside the adapter chain now."""
    queue_depth: int | None
    """Waiting in the scoped queue; `None` when stopped or unknown."""
    total_messages: int
    completed: int
    failed: int
    cancelled: int
    in_progress: int
    avg_duration_ms: float | None
    """Mean over completed rows of the route."""
    pool: str = "default"
    """The worker pool that runs the route (`inbound.pool`)."""
    workers: list[str] = []
    """Ids of the live workers running this route of this execution now."""
    waiting_for_worker: bool = False
    """The execution is running and no live worker serves the route's pool: its messages wait."""

    def snapshot_item(self) -> dict[str, Any]:
        """The short form in `execution.snapshot` events: `{route_id, processor_state, paused, in_flight}`."""
        return {
            "route_id": self.route_id,
            "processor_state": self.processor_state,
            "paused": self.paused,
            "in_flight": self.in_flight,
        }
