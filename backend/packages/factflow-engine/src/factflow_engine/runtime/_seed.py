"""The context a seed task (replay publisher, recovery re-injection, reconciliation) works with."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from factflow_engine.config import ConfigSnapshot, PipelineGlobalConfig, normalize_queue_name
from factflow_protocols import EngineEvent, ErrorInfo, PublishStatus, QueueMessage, StorageProtocol

from ._accounting import CompletionAccountant, MessageCounts
from ._events import EventEmitter
from ._scoped_queue import ExecutionScopedQueue

__all__ = ("SeedCallable", "SeedContext", "SeedHost")

logger = logging.getLogger(__name__)


class SeedHost(Protocol):
    """The running execution a `SeedContext` acts on (`PipelineOrchestrator`).

    A protocol, so the seed context does not import the orchestrator that creates it.
    """

    @property
    def execution_id(self) -> str: ...
    @property
    def config(self) -> PipelineGlobalConfig: ...
    @property
    def snapshot(self) -> ConfigSnapshot: ...
    @property
    def replay_batch_id(self) -> str | None: ...
    @property
    def root_correlation_id(self) -> str | None: ...
    @property
    def storage(self) -> StorageProtocol: ...
    @property
    def scoped_queue(self) -> ExecutionScopedQueue: ...
    @property
    def accountant(self) -> CompletionAccountant: ...
    @property
    def events(self) -> EventEmitter: ...

    async def wait_for_capacity(self, route_id: str) -> None: ...
    async def seed_from_queues(self) -> None: ...
    async def resync_from_queues(self) -> bool: ...
    def has_local_work(self) -> bool: ...
    async def total_depth(self) -> int | None: ...
    def set_failure(self, error_info: ErrorInfo) -> None: ...


class SeedContext:
    """What a seed task may do inside its execution.

    Publishes go through the execution-scoped queue (deduplicated by message id, counted by the
    completion accountant), so an execution stays `running` while anything a seed published is
    in flight, and ends once all of it is handled and the seed has returned.

    The manager owns the seed task: cancelling the execution cancels it, and an exception from
    it ends the execution `failed` (`start_failed`) once in-flight work drains. A seed that wants
    a specific failure calls `fail(code, message)` and returns.
    """

    def __init__(self, orchestrator: SeedHost) -> None:
        self._orchestrator = orchestrator

    # ------------------------------------------------------------------ facts

    @property
    def execution_id(self) -> str:
        return self._orchestrator.execution_id

    @property
    def config(self) -> PipelineGlobalConfig:
        """The execution's pipeline, built from its snapshot."""
        return self._orchestrator.config

    @property
    def snapshot(self) -> ConfigSnapshot:
        """The execution's frozen config."""
        return self._orchestrator.snapshot

    @property
    def replay_batch_id(self) -> str | None:
        return self._orchestrator.replay_batch_id

    @property
    def root_correlation_id(self) -> str | None:
        """The init message id (None when no init message was published)."""
        return self._orchestrator.root_correlation_id

    @property
    def storage(self) -> StorageProtocol:
        return self._orchestrator.storage

    def inbound_queue(self, route_id: str) -> str:
        """The logical inbound queue of `route_id`.

        Raises:
            KeyError: the execution has no such route.
        """
        return self.config.routes[route_id].inbound.queue_name

    def outbound_queues(self, route_id: str) -> list[str]:
        """The logical outbound queues of `route_id`, in declaration order."""
        return [entry.queue_name for entry in self.config.routes[route_id].outbound]

    def scoped_queue(self, queue: str) -> str:
        """The physical name of logical `queue` (`factflow:{<execution_id>}:<queue>`)."""
        return self._orchestrator.scoped_queue.scoped(queue)

    def message_counts(self) -> MessageCounts:
        return self._orchestrator.accountant.counts()

    # ------------------------------------------------------------------ publishing

    async def publish(self, queue: str, message: QueueMessage, *, force: bool = False) -> PublishStatus:
        """Publish one message to logical `queue`; `force` skips deduplication (recovery only)."""
        return await self._orchestrator.scoped_queue.publish(normalize_queue_name(queue), message, force=force)

    async def publish_batch(self, queue: str, messages: Sequence[QueueMessage]) -> list[PublishStatus]:
        """Publish several messages to logical `queue` in one pipelined call."""
        return await self._orchestrator.scoped_queue.publish_batch(normalize_queue_name(queue), messages)

    async def publish_to_route(self, route_id: str, message: QueueMessage, *, force: bool = False) -> PublishStatus:
        """Publish to `route_id`'s inbound queue, with `message.route_id` set."""
        if message.route_id != route_id:
            message = message.model_copy(update={"route_id": route_id})
        return await self.publish(self.inbound_queue(route_id), message, force=force)

    async def wait_for_capacity(self, route_id: str) -> None:
        """Wait while `route_id` is over its high-water mark or out of fan-out budget."""
        await self._orchestrator.wait_for_capacity(route_id)

    # ------------------------------------------------------------------ accounting

    def record_failures(self, count: int) -> None:
        """Count failed messages the queues do not hold (unrecoverable, or dead letters whose DLQ entries were lost)."""
        self._orchestrator.accountant.record_failures(count)

    def record_found_dead_letters(self, count: int) -> None:
        """Count the entries found in the execution's DLQs at recovery (dead-lettered by an earlier process)."""
        self._orchestrator.accountant.record_found_dead_letters(count)

    def resync_in_flight(self, in_flight: int) -> None:
        """Set the in-flight count from the provider's view (recovery in Redis mode)."""
        self._orchestrator.accountant.resync(in_flight)

    async def seed_counts_from_queues(self) -> None:
        """Start the counters from what the queues kept (a resumed execution in Redis mode)."""
        await self._orchestrator.seed_from_queues()

    async def resync_from_queues(self) -> bool:
        """Make in-flight equal what the consumed queues hold, read while no count is in transit."""
        return await self._orchestrator.resync_from_queues()

    def has_local_work(self) -> bool:
        """Whether a delivery or a seed task of the execution is running in this process."""
        return self._orchestrator.has_local_work()

    async def queue_depth(self) -> int | None:
        """Ready plus pending entries across the consumed queues; None if the queue cannot say."""
        return await self._orchestrator.total_depth()

    def fail(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        """End the execution `failed` with `ErrorInfo(code, message, details)` once it drains."""
        self._orchestrator.set_failure(ErrorInfo(code, message, dict(details or {})))

    def emit(self, event: EngineEvent) -> None:
        """Send an event (e.g. `ReplayProgress`) to the execution's event sink."""
        self._orchestrator.events(event)


SeedCallable = Callable[[SeedContext], Awaitable[None]]
"""A seed task: the replay publisher, recovery re-injection or stall reconciliation."""
