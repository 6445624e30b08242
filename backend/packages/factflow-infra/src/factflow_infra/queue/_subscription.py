"""What every provider's subscription shares: capacity, pause, handler tasks, settlement, stop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from factflow_protocols import (
    DeadLetterCallback,
    DeliveryHold,
    LostStateCallback,
    MessageHandler,
    MessageStatus,
    QueueMessage,
    SettledCallback,
    SubscriptionStatus,
    holding_delivery,
)

from ._common import Delivery, ProviderStats, dead_letter_envelope, undecodable_envelope

__all__ = ("BaseSubscription",)

logger = logging.getLogger(__name__)

D = TypeVar("D", bound=Delivery)


class BaseSubscription(ABC, Generic[D]):
    """A running consumer of one queue for one consumer group (the subscription name).

    Subclasses provide the read loop and the settlement primitives; this class owns everything the
    handler sees: at most `prefetch` outstanding deliveries, each handled at once by a worker of
    its own, the handler's return as the acknowledgement, pause/resume and the stop/drain sequence.

    Workers (named tasks, at most `prefetch`) are kept between deliveries: a worker that finishes
    one takes the next delivery handed over, or waits idle for one, instead of a task being made
    and torn down per delivery (task creation, its first step and its done callback cost about as
    much as the rest of the subscription's work per delivery). A delivery handed over while no
    worker is idle gets a new worker, so concurrency is what it was with a task per delivery.
    Deliveries on one worker share its context variables: a handler that sets one must reset it
    (as `log_context` does).
    """

    def __init__(
        self,
        *,
        queue: str,
        subscription: str,
        handler: MessageHandler,
        prefetch: int,
        dead_letter_queue: str,
        on_dead_letter: DeadLetterCallback | None,
        on_lost_state: LostStateCallback | None,
        on_settled: SettledCallback | None = None,
        stats: ProviderStats,
        on_stopped: Callable[[BaseSubscription[D]], None],
    ) -> None:
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, got {prefetch!r}")
        self._queue = queue
        self._subscription = subscription
        self._handler = handler
        self._prefetch = prefetch
        self._dead_letter_queue = dead_letter_queue
        self._on_dead_letter = on_dead_letter
        self._on_lost_state = on_lost_state
        self._on_settled = on_settled
        self._stats = stats
        self._on_stopped = on_stopped
        self._inflight: dict[str, D] = {}
        """Deliveries handed to the handler side: waiting for a worker (`_ready`) or being handled."""
        self._ready: deque[D] = deque()
        self._workers: set[asyncio.Task[None]] = set()
        self._idle: deque[asyncio.Future[None]] = deque()
        """One future per idle worker; setting it hands that worker the next ready delivery."""
        self._worker_names = itertools.count(1)
        self._held: deque[D] = deque()
        self._callbacks: set[asyncio.Task[None]] = set()
        self._paused = False
        self._stopping = False
        self._stopped = False
        self._wakeup = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._stop_lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ Subscription protocol
    @property
    def queue(self) -> str:
        return self._queue

    @property
    def subscription(self) -> str:
        return self._subscription

    @property
    def dead_letter_queue(self) -> str:
        return self._dead_letter_queue

    def pause(self) -> None:
        """Stop reading new entries; running handlers continue, and entries stay in the queue."""
        self._paused = True

    def resume(self) -> None:
        """Read again; entries held while paused are handed to the handler first."""
        self._paused = False
        self._wakeup.set()

    def outstanding(self) -> int:
        """Deliveries received and not yet settled: running handlers plus entries held while paused."""
        return len(self._inflight) + len(self._held)

    def status(self) -> SubscriptionStatus:
        return SubscriptionStatus(
            queue=self._queue,
            subscription=self._subscription,
            paused=self._paused,
            stopped=self._stopped,
            outstanding=self.outstanding(),
            prefetch=self._prefetch,
        )

    async def stop(self, grace_seconds: float | None = 30.0) -> None:
        """Stop reading, wait for the reader, then drain the running handlers.

        Handlers get `grace_seconds` to finish and their acks still land; the rest are cancelled and
        their deliveries stay pending, to be redelivered with `delivery_count + 1`. Entries read but
        not yet handed over (held while paused) stay pending as well. `None` waits without limit,
        `0` cancels at once. Idempotent.
        """
        await self._shutdown(grace_seconds, cancel_reader=False)

    # ------------------------------------------------------------------ lifecycle
    @property
    def reader_alive(self) -> bool:
        """False when the read loop ended without a stop (a bug); health reports `stalled`."""
        return self._stopping or (self._reader is not None and not self._reader.done())

    @property
    def is_stopped(self) -> bool:
        return self._stopped

    def start(self) -> None:
        """Start the read loop."""
        self._reader = asyncio.create_task(self._read_loop(), name=f"queue-reader:{self._queue}:{self._subscription}")

    async def _shutdown(self, grace_seconds: float | None, *, cancel_reader: bool) -> None:
        async with self._stop_lock:
            if self._stopped:
                return
            self._stopping = True
            self._stop_requested.set()
            self._wakeup.set()
            try:
                await self._stop_reader(cancel_reader)
                for delivery in self._held:
                    self._release(delivery)
                self._held.clear()
                await self._drain(grace_seconds)
            finally:
                await self._after_drain()
                self._stopped = True
                self._on_stopped(self)
            logger.debug("Subscription %r on %r stopped", self._subscription, self._queue)

    async def _stop_reader(self, cancel: bool) -> None:
        reader = self._reader
        if reader is None or reader.done():
            return
        if not cancel:
            # The reader notices `_stopping` after its current read (at most one BLOCK period).
            await asyncio.wait({reader}, timeout=self._reader_stop_seconds())
        if not reader.done():
            reader.cancel()
        await asyncio.wait({reader})
        if not reader.cancelled() and reader.exception() is not None:
            logger.error("Queue reader of %r ended with an error", self._queue, exc_info=reader.exception())

    async def _drain(self, grace_seconds: float | None) -> None:
        # Idle workers end now; busy ones end once no delivery is ready (see `_work`).
        self._wake_idle_workers()
        try:
            await self._wait_for_workers(grace_seconds)
        finally:
            # Handed over but never started (the workers were cancelled first): they stay pending.
            while self._ready:
                self._finish(self._ready.popleft())

    async def _wait_for_workers(self, grace_seconds: float | None) -> None:
        tasks = set(self._workers) | self._callbacks
        current = asyncio.current_task()
        if current is not None:  # stop() called from a handler must not wait for itself
            tasks.discard(current)
        if not tasks:
            return
        try:
            if grace_seconds is None or grace_seconds > 0:
                await asyncio.wait(tasks, timeout=grace_seconds)
            remaining = {task for task in tasks if not task.done()}
            if remaining:
                logger.info(
                    "Cancelling %d running handler(s) of %r; their deliveries stay pending", len(remaining), self._queue
                )
                for task in remaining:
                    task.cancel()
                await asyncio.wait(remaining)
        except asyncio.CancelledError:
            # stop() itself was cancelled: leave no handler running unowned.
            for task in tasks:
                task.cancel()
            raise

    def _reader_stop_seconds(self) -> float:
        """How long `stop()` lets the reader finish its current read before cancelling it."""
        return 0.0

    async def _after_drain(self) -> None:
        """Hook run once the handlers are done (the Redis lease stops here)."""

    # ------------------------------------------------------------------ read-loop helpers
    @abstractmethod
    async def _read_loop(self) -> None:
        """Read entries and pass them to `_dispatch` until stopping."""

    def _free(self) -> int:
        return self._prefetch - self.outstanding()

    async def _wait_for_capacity(self) -> bool:
        """Wait until reading is allowed (not paused, a free slot); False once stopping."""
        while True:
            self._wakeup.clear()
            if self._stopping:
                return False
            self._drain_held()
            if not self._paused and self._free() > 0:
                return True
            await self._wakeup.wait()

    async def _wait_for_wakeup(self, seconds: float | None) -> None:
        """Wait for new work (publish, freed slot, resume, stop) or until `seconds` pass."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wakeup.wait()

    async def _sleep(self, seconds: float) -> None:
        """Back-off wait that a stop interrupts."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop_requested.wait()

    def _dispatch(self, delivery: D) -> None:
        """Hand `delivery` to the handler, or hold it while paused or stopping."""
        if self._paused or self._stopping:
            self._held.append(delivery)
            return
        self._start_handler(delivery)

    def _drain_held(self) -> None:
        while self._held and not self._paused and not self._stopping:
            self._start_handler(self._held.popleft())

    def _is_local(self, entry_id: str) -> bool:
        """Whether this subscription already holds the entry (being handled or held)."""
        return entry_id in self._inflight or any(held.entry_id == entry_id for held in self._held)

    def _start_handler(self, delivery: D) -> None:
        self._inflight[delivery.entry_id] = delivery
        self._ready.append(delivery)
        self._stats.note_delivery()
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        worker = asyncio.create_task(
            self._work(), name=f"queue-worker:{self._queue}:{self._subscription}:{next(self._worker_names)}"
        )
        self._workers.add(worker)
        worker.add_done_callback(self._worker_done)

    def _worker_done(self, worker: asyncio.Task[None]) -> None:
        # Only the drain cancels workers; what they left ready is released there.
        self._workers.discard(worker)

    async def _work(self) -> None:
        """Handle ready deliveries one after another; wait idle for more; end when stopping."""
        loop = asyncio.get_running_loop()
        while True:
            while self._ready:
                delivery = self._ready.popleft()
                try:
                    await self._deliver(delivery)
                except Exception:
                    logger.exception("Handling entry %s of %r failed; it stays pending", delivery.entry_id, self._queue)
                finally:
                    self._finish(delivery)
            if self._stopping:
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._idle.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done():
                    waiter.cancel()

    def _wake_idle_workers(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _finish(self, delivery: D) -> None:
        """The handler side is done with `delivery`: unsettled, it stays pending; a slot is free."""
        self._inflight.pop(delivery.entry_id, None)
        if not delivery.settled:
            self._release(delivery)
        self._wakeup.set()

    # ------------------------------------------------------------------ one delivery
    async def _deliver(self, delivery: D) -> None:
        try:
            if delivery.data is None:
                raise ValueError("entry has no `env` field")
            message = QueueMessage.decode(delivery.data)
        except ValueError as exc:
            await self._dead_letter_undecodable(delivery, str(exc))
            return
        # The envelope was decoded for this delivery alone: stamp the count in place, no copy.
        message.control.delivery_count = delivery.delivery_count
        hold = self._hold(delivery)
        try:
            if hold is None:
                status: object = await self._handler(message)
            else:
                with holding_delivery(hold):
                    status = await self._handler(message)
        except Exception:
            logger.warning(
                "Handler for %r raised on message %r (delivery %d); it stays pending for redelivery",
                self._queue,
                message.id,
                delivery.delivery_count,
                exc_info=True,
            )
            return
        if status == MessageStatus.ACK or status == MessageStatus.DEAD_LETTER:
            settling = MessageStatus.ACK if status == MessageStatus.ACK else MessageStatus.DEAD_LETTER
            try:
                if settling is MessageStatus.ACK:
                    await self._ack(delivery)
                else:
                    await self._move_to_dead_letter(delivery, dead_letter_envelope(message), raw=None)
            finally:
                self._report_settled(message, settling, delivery.acknowledged)
        elif status != MessageStatus.RETRY:
            logger.warning("Handler for %r returned %r, not a `MessageStatus`; treated as RETRY", self._queue, status)

    def _report_settled(self, message: QueueMessage, status: MessageStatus, acknowledged: bool) -> None:
        if self._on_settled is None:
            return
        try:
            self._on_settled(message, status, acknowledged)
        except Exception:
            logger.exception("`on_settled` callback failed for %r", self._queue)

    async def _dead_letter_undecodable(self, delivery: D, error: str) -> None:
        envelope = undecodable_envelope(self._queue, delivery, error)
        logger.warning(
            "Entry %s of %r cannot be decoded (%s); moving it to %r",
            delivery.entry_id,
            self._queue,
            error,
            self._dead_letter_queue,
        )
        await self._move_to_dead_letter(delivery, envelope, raw=delivery.data)
        if delivery.acknowledged and self._on_dead_letter is not None:
            try:
                await self._on_dead_letter(envelope, "undecodable")
            except Exception:
                logger.exception("`on_dead_letter` callback failed for %r", self._queue)

    def _notify_lost_state(self) -> None:
        """Run `on_lost_state` in its own task, so a slow reconciliation never blocks reading."""
        if self._on_lost_state is None:
            return
        task = asyncio.create_task(
            self._run_lost_state(self._on_lost_state), name=f"queue-lost-state:{self._queue}:{self._subscription}"
        )
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    async def _run_lost_state(self, callback: LostStateCallback) -> None:
        try:
            await callback(self._queue, self._subscription)
        except Exception:
            logger.exception("`on_lost_state` callback failed for %r", self._queue)

    def _hold(self, delivery: D) -> DeliveryHold | None:
        """The hold the handler can ask about (`delivery_still_held()`); None: the delivery is always held."""
        return None

    # ------------------------------------------------------------------ settlement primitives
    @abstractmethod
    async def _ack(self, delivery: D) -> None:
        """Remove the delivery; set `delivery.settled` once done."""

    @abstractmethod
    async def _move_to_dead_letter(self, delivery: D, envelope: QueueMessage, *, raw: bytes | None) -> None:
        """Append `envelope` (plus `raw` bytes, if any) to the DLQ and ack, atomically; set `settled`."""

    @abstractmethod
    def _release(self, delivery: D) -> None:
        """The delivery ended unsettled (RETRY, exception, cancellation, stop): leave it pending."""
