"""What the routes of one execution share, and the runtime's tunables."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from factflow_engine._ports import EngineEventSink
from factflow_engine.config import PipelineGlobalConfig
from factflow_protocols import LineageSink, PipelineAdapter, QueueProtocol, StorageProtocol

from ..storage import StorageBackendAdapter, StorageCounters
from ._accounting import CompletionAccountant
from ._events import EventEmitter
from ._metrics import MetricsRegistry
from ._scoped_queue import ExecutionScopedQueue
from ._seed import SeedCallable
from ._shared import LineageCountsCallable, LineageRepairCallable, SharedExecutionState
from ._slot import AdapterSlot
from ._stages import StageCounts, StageFacts

__all__ = (
    "AdapterFactory",
    "AdapterSlot",
    "ExecutionRuntime",
    "LineageLookup",
    "RuntimeDependencies",
    "RuntimeOptions",
)

logger = logging.getLogger(__name__)


@runtime_checkable
class AdapterFactory(Protocol):
    """Builds adapter instances; `ValidatingAdapterRegistry` is the real one."""

    def create(self, adapter_type: str, config: Mapping[str, Any] | None = None) -> PipelineAdapter:
        """An adapter instance of `adapter_type` configured by `config`.

        Raises:
            FactflowError: the type is unknown or broken, or the config is invalid.
        """
        ...


LineageLookup = Callable[[str, str], Awaitable[Sequence[Any]]]
"""`(correlation_id, route_id) -> rows` for the resume walk (`LineageRepository.rows_for_message`).

Rows need `adapter_index`, `stage_status` and `metadata` (or `entry_metadata`) attributes.
"""


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """Tunables of the runtime; the defaults are the production values of docs/concepts/guarantees.md.

    Tests shorten the waits; nothing here changes behaviour otherwise.
    """

    max_message_bytes: int = 4 * 1024 * 1024
    """Largest output payload (its msgpack encoding, as the queue carries it); larger outputs are dead-lettered."""
    sample_interval_seconds: float = 1.0
    """Pressure and queue-depth sampling period of each route."""
    stall_check_interval_seconds: float = 10.0
    """How often the stall detector looks."""
    stall_timeout_seconds: float = 30.0
    """How long a stall must last before the orchestrator reconciles."""
    storage_write_retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0)
    """Quick retries of a failed storage write."""
    storage_backoff_initial_seconds: float = 1.0
    storage_backoff_max_seconds: float = 30.0
    publish_retry_initial_seconds: float = 0.5
    publish_retry_max_seconds: float = 30.0
    lineage_lookup_timeout_seconds: float = 5.0
    """Longest wait for the resume walk's lineage query; after it the walk goes on without rows."""
    progress_interval_seconds: float = 0.5
    """Minimum spacing of `execution.progress` events."""
    completion_recheck_max_seconds: float = 1.0
    """Longest pause between queue-depth re-checks while in-flight is zero but queues are not empty."""


@dataclass(slots=True)
class ExecutionRuntime:
    """Everything the routes of one execution share."""

    execution_id: str
    config: PipelineGlobalConfig
    config_hash: str | None
    config_id: str | None
    config_version: int | None
    replay_batch_id: str | None
    queue: ExecutionScopedQueue
    accountant: CompletionAccountant
    stages: StageFacts
    """The lineage facts of every invocation (rows recorded, or only counted)."""
    stage_counts: StageCounts
    events: EventEmitter
    storage: StorageProtocol
    storage_backend: StorageBackendAdapter
    metrics: MetricsRegistry
    options: RuntimeOptions
    execution_gate: asyncio.Semaphore
    """Gate 1: `orchestrator.max_handlers` invocations at once."""
    lineage_lookup: LineageLookup | None = None
    cancelling: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the execution is being cancelled or stopped: no new invocation starts, waits end."""
    consumed_queues: dict[str, str] = field(default_factory=dict)
    """Normalised inbound queue → route id."""


@dataclass(frozen=True, slots=True)
class RuntimeDependencies:
    """What the manager hands every orchestrator."""

    queue: QueueProtocol
    storage: StorageProtocol
    adapters: AdapterFactory
    metrics: MetricsRegistry
    storage_counters: StorageCounters
    options: RuntimeOptions = field(default_factory=RuntimeOptions)
    lineage: LineageSink | None = None
    lineage_lookup: LineageLookup | None = None
    events: EngineEventSink | None = None
    reconciler: SeedCallable | None = None
    """Re-injects lost messages when the stall detector fires (implemented by factflow-replay)."""
    shared_state: SharedExecutionState | None = None
    """The queue's state shared across processes (Redis); needed by executions placed on workers."""
    lineage_repair: LineageRepairCallable | None = None
    """Writes back lineage rows a dead worker lost, before a shared execution's final stats (factflow-replay)."""
    lineage_counts: LineageCountsCallable | None = None
    """Counts a shared execution's messages from lineage when its queues lost their state (factflow-replay)."""
