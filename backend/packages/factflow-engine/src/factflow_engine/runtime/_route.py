"""`ReactiveRouteProcessor`: one route of one execution (docs/concepts/routes-and-stages.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from factflow_engine.config import CircuitBreakerConfig, ProcessorConfig, RouteConfig
from factflow_foundation import log_context
from factflow_protocols import (
    MessageStatus,
    PipelineAdapter,
    QueueError,
    QueueMessage,
    RouteStateChanged,
    Subscription,
)

from ..storage import StageIdentity, StageStorageAdapter, StorageBackoff
from ._backpressure import BackpressureController
from ._cancel import Cancellation
from ._chain import ChainWalk, refusal_record
from ._circuit_breaker import AdapterCircuitMetrics, CircuitBreaker, CircuitState
from ._context import AdapterSlot, ExecutionRuntime
from ._delivery import DeadLetterReason, RouteExecutionCounts
from ._gates import FanoutBudget
from ._invoke import ContextFactory, Invoker
from ._metrics import RouteCounters
from ._observers import DeliveryObservers
from ._publisher import OutboundPublisher, PublishRetry

__all__ = ("ReactiveRouteProcessor", "RouteRuntimeStatus", "RouteState")

logger = logging.getLogger(__name__)


class RouteState(StrEnum):
    """Processor states; a route throttled by backpressure or an open breaker is still `running`."""

    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RouteRuntimeStatus:
    """Live state of one route of one execution (feeds docs/reference/http-api-endpoints.md `RouteStatus`)."""

    execution_id: str
    route_id: str
    processor_state: RouteState
    paused: bool
    """The route name's global pause flag."""
    concurrency_current: int | None
    """Current AIMD limit; None once stopped."""
    concurrency_max: int | None
    in_flight: int
    """Deliveries inside the adapter chain now."""
    queue_depth: int | None
    """Ready plus pending entries of the inbound queue (last sample); None when unknown or stopped."""


class ReactiveRouteProcessor:
    """Consumes one route's inbound queue for one execution and runs each delivery through the chain.

    Reading pauses while the route is paused, the high-water mark is reached, a breaker is open,
    storage is in backoff or the fan-out budget is used up. Deliveries already running go on.

    Args:
        route_id: The route.
        route: Its config.
        processor: Its merged policies.
        adapters: One started adapter instance per adapter entry, in order.
        breakers: The merged breaker config of each adapter entry.
        runtime: What the execution's routes share.
        counters: Process-wide counters of the route name.
        pressure_queues: `(queue, subscription)` of the consumed outbound queues that count toward
            pressure (those leading back into a cycle through this route are left out).
        paused: Whether the route name is globally paused at start.
        on_lost_state: Told when the provider found the inbound queue's state gone (reconcile).
    """

    def __init__(
        self,
        *,
        route_id: str,
        route: RouteConfig,
        processor: ProcessorConfig,
        adapters: Sequence[PipelineAdapter],
        breakers: Sequence[CircuitBreakerConfig],
        runtime: ExecutionRuntime,
        counters: RouteCounters,
        pressure_queues: Sequence[tuple[str, str]] = (),
        paused: bool = False,
        on_lost_state: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        self.route_id = route_id
        self.route = route
        self.processor = processor
        self.runtime = runtime
        self.counters = counters
        self.execution_counts = RouteExecutionCounts()
        self._pressure_queues = list(pressure_queues)
        self._paused = paused
        self._state = RouteState.STARTING
        self._blockers: set[str] = {"paused"} if paused else set()
        self._subscription: Subscription | None = None
        self._control_task: asyncio.Task[None] | None = None
        self._breaker_timer: asyncio.TimerHandle | None = None
        self._in_flight = 0
        self._deliveries_started = 0
        self._running: set[int] = set()
        """Serial numbers of the deliveries inside the handler now."""
        self._delivery_ended = asyncio.Event()
        self._queue_depth: int | None = None
        self._last_event: tuple[str, bool] | None = None
        self._work_waiting = False
        self._capacity = asyncio.Event()
        self._capacity.set()
        self._on_lost_state = on_lost_state

        self.storage_backoff = StorageBackoff(
            initial_delay=runtime.options.storage_backoff_initial_seconds,
            max_delay=runtime.options.storage_backoff_max_seconds,
            on_change=lambda active: self._set_blocker("storage", active),
            probe=self._storage_writable,
        )
        self.backpressure = BackpressureController(
            processor.backpressure,
            processor.concurrency,
            on_reading_change=lambda allowed: self._set_blocker("backpressure", not allowed),
        )
        self.budget = FanoutBudget(
            processor.orchestrator.max_fanout_pending,
            on_exhausted_change=lambda exhausted: self._set_blocker("fanout", exhausted),
        )
        self.slots = [
            self._slot(index, adapter, breaker)
            for index, (adapter, breaker) in enumerate(zip(adapters, breakers, strict=True))
        ]
        self.observers = DeliveryObservers(
            route_id=route_id,
            dead_letter_queue=processor.dead_letter_queue,
            counters=counters,
            execution_counts=self.execution_counts,
            accountant=runtime.accountant,
            events=runtime.events,
        )
        self.chain = self._chain()

    def _chain(self) -> ChainWalk:
        """The route's delivery path: the walk and the parts it delegates to."""
        runtime, processor, options = self.runtime, self.processor, self.runtime.options
        cancellation = Cancellation(runtime.cancelling)
        invoker = Invoker(
            policy=processor.error_handling,
            execution_gate=runtime.execution_gate,
            limiter=self.backpressure.limiter,
            cancellation=cancellation,
            stages=runtime.stages,
            observers=self.observers,
            contexts=ContextFactory(
                execution_id=runtime.execution_id,
                route_id=self.route_id,
                config_hash=runtime.config_hash,
                storage=runtime.storage,
            ),
        )
        publisher = OutboundPublisher(
            route_id=self.route_id,
            execution_id=runtime.execution_id,
            queue=runtime.queue,
            outbound=[(entry.queue_name, entry.condition) for entry in self.route.outbound],
            dead_letter_queue=processor.dead_letter_queue,
            consumed_queues=runtime.consumed_queues,
            budget=self.budget,
            cancellation=cancellation,
            retry=PublishRetry(
                initial_seconds=options.publish_retry_initial_seconds,
                max_seconds=options.publish_retry_max_seconds,
                cancellation=cancellation,
            ),
        )
        return ChainWalk(
            route_id=self.route_id,
            slots=self.slots,
            invoker=invoker,
            publisher=publisher,
            stages=runtime.stages,
            observers=self.observers,
            cancellation=cancellation,
            backpressure=self.backpressure,
            budget=self.budget,
            storage_backoff=self.storage_backoff,
            replay_batch_id=runtime.replay_batch_id,
            max_message_bytes=options.max_message_bytes,
            lineage_lookup=runtime.lineage_lookup,
            lookup_timeout=options.lineage_lookup_timeout_seconds,
        )

    def _slot(self, index: int, adapter: PipelineAdapter, breaker_config: CircuitBreakerConfig) -> AdapterSlot:
        entry = self.route.adapters[index]
        runtime = self.runtime
        identity = StageIdentity(
            execution_id=runtime.execution_id,
            route_id=self.route_id,
            stage=entry.stage_name,
            adapter_name=entry.type,
            adapter_index=index,
            config_hash=runtime.config_hash,
            config_id=runtime.config_id,
            config_version=runtime.config_version,
        )
        return AdapterSlot(
            index=index,
            config=entry,
            adapter=adapter,
            breaker=CircuitBreaker(
                breaker_config,
                name=f"{self.route_id}/{entry.stage_name}",
                on_state_change=self._breaker_changed,
            ),
            storage=StageStorageAdapter(
                runtime.storage_backend,
                identity=identity,
                config=entry.storage,
                backoff=self.storage_backoff,
                on_object_created=runtime.events,
            ),
        )

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> RouteState:
        return self._state

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queue_depth(self) -> int | None:
        return self._queue_depth

    @property
    def reading_blocked(self) -> bool:
        return bool(self._blockers)

    def delivery_mark(self) -> int:
        """A mark for `running_before`: every delivery that entered the handler so far is before it."""
        return self._deliveries_started

    def running_before(self, mark: int) -> bool:
        """Whether a delivery that entered the handler before `mark` is still running."""
        return any(serial < mark for serial in self._running)

    async def wait_running_before(self, mark: int) -> None:
        """Wait until every delivery that entered the handler before `mark` has left it."""
        while self.running_before(mark):
            self._delivery_ended.clear()
            await self._delivery_ended.wait()

    def outstanding(self) -> int:
        """Deliveries received and not settled (running plus held while paused)."""
        return self._subscription.outstanding() if self._subscription is not None else 0

    def status(self) -> RouteRuntimeStatus:
        live = self._state not in (RouteState.STOPPED, RouteState.FAILED)
        return RouteRuntimeStatus(
            execution_id=self.runtime.execution_id,
            route_id=self.route_id,
            processor_state=self._state,
            paused=self._paused,
            concurrency_current=self.backpressure.limit if live else None,
            concurrency_max=self.backpressure.max_concurrency if live else None,
            in_flight=self._in_flight,
            queue_depth=self._queue_depth if live else None,
        )

    def circuit_metrics(self) -> list[AdapterCircuitMetrics]:
        return [
            AdapterCircuitMetrics(
                route_id=self.route_id,
                adapter_name=slot.adapter_name,
                adapter_index=slot.index,
                stats=slot.breaker.stats(),
                opened_at=slot.breaker.opened_at,
            )
            for slot in self.slots
        ]

    def _set_state(self, state: RouteState) -> None:
        self._state = state
        self._emit_state()

    def _emit_state(self) -> None:
        key = (self._state.value, self._paused)
        if key == self._last_event:
            return
        self._last_event = key
        self.runtime.events(RouteStateChanged(self.route_id, self._state.value, self._paused))

    async def _storage_writable(self) -> bool:
        """The storage backoff's probe: a write may be tried again."""
        return (await self.runtime.storage.health()).writable

    def _set_blocker(self, reason: str, active: bool) -> None:
        if active:
            self._blockers.add(reason)
        else:
            self._blockers.discard(reason)
        if "backpressure" in self._blockers or "fanout" in self._blockers:
            self._capacity.clear()
        else:
            self._capacity.set()
        self._apply_reading()

    async def wait_for_capacity(self) -> None:
        """Wait until the route is below its high-water mark and has fan-out budget left."""
        await self._capacity.wait()

    def _apply_reading(self) -> None:
        subscription = self._subscription
        if subscription is None or self._state not in (RouteState.RUNNING, RouteState.PAUSED):
            return
        if self._blockers:
            subscription.pause()
        else:
            subscription.resume()

    def set_paused(self, paused: bool) -> None:
        """Apply the route name's global pause flag: stop or resume reading."""
        self._paused = paused
        self._set_blocker("paused", paused)
        if self._state in (RouteState.RUNNING, RouteState.PAUSED):
            self._set_state(RouteState.PAUSED if paused else RouteState.RUNNING)
        else:
            self._emit_state()

    def _breaker_changed(self, breaker: CircuitBreaker, state: CircuitState) -> None:
        self._refresh_breaker_blocker()

    def _refresh_breaker_blocker(self) -> None:
        if self._breaker_timer is not None:
            self._breaker_timer.cancel()
            self._breaker_timer = None
        blocking = [slot.breaker for slot in self.slots if slot.breaker.blocks_reading()]
        self._set_blocker("breaker", bool(blocking))
        if blocking:
            # Reading resumes once trial calls may start; a deferred branch or a new delivery makes them.
            wait = min(breaker.seconds_until_trial() for breaker in blocking)
            with contextlib.suppress(RuntimeError):
                self._breaker_timer = asyncio.get_running_loop().call_later(wait + 0.001, self._refresh_breaker_blocker)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Subscribe to the scoped inbound queue (paused if the route is paused) and start sampling."""
        processor = self.processor
        self._subscription = await self.runtime.queue.subscribe(
            processor.inbound_queue,
            processor.subscription,
            self._handle,
            prefetch=processor.prefetch,
            dead_letter_queue=processor.dead_letter_queue,
            on_dead_letter=self._on_provider_dead_letter,
            on_lost_state=self._on_lost_state,
            on_settled=self._on_settled,
        )
        self._set_state(RouteState.PAUSED if self._paused else RouteState.RUNNING)
        self._apply_reading()
        self._control_task = asyncio.create_task(self._control_loop(), name=f"route-control:{self.route_id}")

    async def stop(self, grace_seconds: float | None) -> None:
        """Stop reading, give running deliveries `grace_seconds`, cancel the rest; idempotent."""
        if self._state in (RouteState.STOPPED, RouteState.FAILED):
            return
        self._set_state(RouteState.STOPPING)
        try:
            if self._subscription is not None:
                self._subscription.pause()
                await self._subscription.stop(grace_seconds)
        finally:
            await self._stop_control()
            self._set_state(RouteState.STOPPED)

    async def shutdown(self) -> None:
        """Stop at once (no grace)."""
        await self.stop(0)

    async def _stop_control(self) -> None:
        if self._breaker_timer is not None:
            self._breaker_timer.cancel()
            self._breaker_timer = None
        task, self._control_task = self._control_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    def hold_reading(self, held: bool) -> None:
        """Hold reading while the orchestrator re-syncs its counters (deliveries already running go on)."""
        self._set_blocker("reconciling", held)

    def pause_reading(self) -> None:
        """Stop reading at once (cancellation and shutdown), whatever the blockers say."""
        self._blockers.add("stopping")
        if self._subscription is not None:
            self._subscription.pause()

    # ------------------------------------------------------------------ deliveries

    async def _handle(self, message: QueueMessage) -> MessageStatus:
        """The subscription handler: its return value is the acknowledgement."""
        runtime = self.runtime
        if runtime.cancelling.is_set():
            return MessageStatus.RETRY
        self._in_flight += 1
        serial = self._deliveries_started
        self._deliveries_started += 1
        self._running.add(serial)
        started = self.observers.received()
        try:
            with log_context(execution_id=runtime.execution_id, route_id=self.route_id, correlation_id=message.id):
                status = await self._process(message)
        except Exception:
            logger.exception(
                "Delivery of %r in route %r failed unexpectedly; it stays pending", message.id, self.route_id
            )
            status = MessageStatus.RETRY
        finally:
            self._in_flight -= 1
            self._running.discard(serial)
            self._delivery_ended.set()
        if status is not MessageStatus.RETRY:
            self.observers.settling(started)
        return status

    def _on_settled(self, message: QueueMessage, status: MessageStatus, acknowledged: bool) -> None:
        self.observers.settled(self.route.inbound.queue_name, message.id)

    async def _process(self, message: QueueMessage) -> MessageStatus:
        policy = self.processor.error_handling
        if message.delivery_count > policy.max_deliveries:
            return self._refuse(
                message,
                "max_deliveries_exceeded",
                f"Delivery {message.delivery_count} exceeds max_deliveries ({policy.max_deliveries}).",
            )
        max_hops = self.processor.orchestrator.max_hops
        if message.hop_count > max_hops:
            return self._refuse(
                message, "max_hops_exceeded", f"Hop count {message.hop_count} exceeds max_hops ({max_hops})."
            )
        return await self.chain.run_delivery(message)

    def _refuse(self, message: QueueMessage, reason: DeadLetterReason, detail: str) -> MessageStatus:
        """Dead-letter a whole delivery before any adapter runs (the provider moves it atomically)."""
        record = refusal_record(self.route_id, reason, detail)
        message.control.dead_letter = record
        logger.warning("Dead-lettering %r in route %r: %s", message.id, self.route_id, detail)
        self.observers.dead_lettered(message.id, adapter_name=None, error_info=record["error_info"])
        self.observers.delivery_done(failed=True)
        return MessageStatus.DEAD_LETTER

    async def _on_provider_dead_letter(self, envelope: QueueMessage | None, reason: str) -> None:
        """An entry the provider dead-lettered itself (undecodable): it counts as handled."""
        logger.warning("Queue entry of route %r dead-lettered by the provider (%s)", self.route_id, reason)
        self.observers.provider_dead_lettered(envelope.id if envelope is not None else None)

    # ------------------------------------------------------------------ sampling and AIMD

    async def _depth(self, queue: str, subscription: str) -> Any:
        try:
            return await self.runtime.queue.depth(queue, subscription)
        except QueueError as exc:
            logger.debug("Depth of %r unavailable (%s)", queue, exc)
            return None

    async def sample(self) -> int:
        """Sample queue depth and pressure once; returns the pressure."""
        inbound = await self._depth(self.processor.inbound_queue, self.processor.subscription)
        self._queue_depth = None if inbound is None else inbound.total
        pressure = self.outstanding()
        for queue, subscription in self._pressure_queues:
            depth = await self._depth(queue, subscription)
            if depth is not None:
                pressure += depth.total
        self.backpressure.update_pressure(pressure)
        self._work_waiting = self._work_waiting or (inbound is not None and inbound.ready > 0)
        return pressure

    async def _control_loop(self) -> None:
        interval = self.runtime.options.sample_interval_seconds
        adjust_every = self.processor.backpressure.adjust_interval_seconds
        loop = asyncio.get_running_loop()
        next_adjust = loop.time() + adjust_every
        # The state check, not only cancellation, ends the loop: a queue client that swallows a
        # cancellation mid-call (seen with redis-py's blocking pool) must not keep a stopped route alive.
        while self._state not in (RouteState.STOPPING, RouteState.STOPPED, RouteState.FAILED):
            await asyncio.sleep(interval)
            try:
                await self.sample()
                if self.backpressure.limiter.waiting:
                    self._work_waiting = True
                if loop.time() >= next_adjust:
                    self.backpressure.adjust(work_waiting=self._work_waiting)
                    self._work_waiting = False
                    next_adjust = loop.time() + adjust_every
            except Exception:  # sampling must never stop the route
                logger.exception("Sampling of route %r failed", self.route_id)
