"""`EngineWiring`: what an `OrchestratorManager` is built from, as one value.

The server, the test harness, the benchmarks and the execution layer's composition root all need
a manager over some queue, storage, adapter factory and lineage sink. They state those once in an
`EngineWiring` and call `build_manager()`; the layers above add their own parts (event hub, pause
store, lineage lookup, reconciler) with `dataclasses.replace` instead of repeating the wiring.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from factflow_engine._ports import EngineEventSink, PauseStateStore
from factflow_engine.config import ConfigSnapshot
from factflow_foundation import FactflowSettings
from factflow_protocols import LineageSink, QueueProtocol, StorageProtocol

from ._context import AdapterFactory, LineageLookup, RuntimeOptions
from ._manager import OrchestratorManager
from ._seed import SeedCallable
from ._shared import LineageCountsCallable, LineageRepairCallable, Placement, SharedExecutionState

__all__ = ("EngineLimits", "EngineWiring")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineLimits:
    """Capacity, shutdown grace and runtime tunables of one manager."""

    max_concurrent_executions: int = 10
    shutdown_grace_seconds: float = 30.0
    options: RuntimeOptions = field(default_factory=RuntimeOptions)

    @classmethod
    def from_settings(cls, settings: FactflowSettings) -> EngineLimits:
        """The limits a server runs with (`MAX_CONCURRENT_EXECUTIONS`, `SHUTDOWN_GRACE_SECONDS`, ...)."""
        return cls(
            max_concurrent_executions=settings.max_concurrent_executions,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            options=RuntimeOptions(
                max_message_bytes=settings.max_message_bytes,
                stall_check_interval_seconds=settings.stall_check_interval_seconds,
                stall_timeout_seconds=settings.stall_timeout_seconds,
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineWiring:
    """The parts of one manager; `build_manager()` makes it.

    Args:
        queue: The queue provider (connected).
        storage: The storage provider (started).
        adapters: Builds adapter instances (`ValidatingAdapterRegistry`).
        lineage: Takes lineage row states (`LineageRecorder`); rows are dropped when omitted.
        lineage_lookup: Loads a message's rows in one route (`LineageRepository.rows_for_message`).
        events: Receives engine events (`ExecutionEventHub`).
        pause_store: Persists global route pauses (`RoutePauseRepository`); in memory when omitted.
        reconciler: Re-injects lost messages when an execution stalls (factflow-replay).
        limits: Capacity, shutdown grace and runtime tunables.
        shared_state: The queue's cross-process state (Redis), for executions placed on workers.
        lineage_repair: Writes back lineage rows a dead worker lost (factflow-replay).
        lineage_counts: Counts a shared execution's messages from lineage after lost queue state (factflow-replay).
        placement: Which routes of an execution run in this process (the server's worker pools).
    """

    queue: QueueProtocol
    storage: StorageProtocol
    adapters: AdapterFactory
    lineage: LineageSink | None = None
    lineage_lookup: LineageLookup | None = None
    events: EngineEventSink | None = None
    pause_store: PauseStateStore | None = None
    reconciler: SeedCallable | None = None
    limits: EngineLimits = field(default_factory=EngineLimits)
    shared_state: SharedExecutionState | None = None
    lineage_repair: LineageRepairCallable | None = None
    lineage_counts: LineageCountsCallable | None = None
    placement: Callable[[ConfigSnapshot], Awaitable[Placement]] | None = None

    def build_manager(self) -> OrchestratorManager:
        """A new manager over these parts (load its pause flags before the first start)."""
        return OrchestratorManager(
            queue=self.queue,
            storage=self.storage,
            adapters=self.adapters,
            lineage=self.lineage,
            lineage_lookup=self.lineage_lookup,
            events=self.events,
            pause_store=self.pause_store,
            max_concurrent_executions=self.limits.max_concurrent_executions,
            shutdown_grace_seconds=self.limits.shutdown_grace_seconds,
            options=self.limits.options,
            reconciler=self.reconciler,
            shared_state=self.shared_state,
            lineage_repair=self.lineage_repair,
            lineage_counts=self.lineage_counts,
            placement=self.placement,
        )
