"""`MemoryQueueProvider`: the in-process queue, following the Redis Streams rules."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from factflow_protocols import (
    DeadLetterCallback,
    LostStateCallback,
    MessageHandler,
    PublishStatus,
    QueueDepth,
    QueueError,
    QueueHealth,
    QueueMessage,
    SettledCallback,
)

from ._common import Delivery, ProviderStats, dedupe_key, dedupe_member
from ._subscription import BaseSubscription

__all__ = ("MemoryQueueProvider", "MemorySubscription")

logger = logging.getLogger(__name__)

Fields = dict[str, bytes]


@dataclass(slots=True)
class _Pending:
    delivery_count: int
    handling: bool
    ready_at: float = 0.0
    """`time.monotonic()` from which an entry not being handled may be redelivered."""


@dataclass(slots=True)
class _Group:
    cursor: int = 0
    """Sequence number of the last entry delivered to the group (the stream's last-delivered-id)."""
    pending: dict[int, _Pending] = field(default_factory=dict)
    settled: int = 0
    """Entries acked or dead-lettered by the group."""


@dataclass(slots=True)
class _Stream:
    entries: dict[int, Fields] = field(default_factory=dict)
    next_seq: int = 1
    groups: dict[str, _Group] = field(default_factory=dict)

    def append(self, fields: Fields) -> int:
        seq = self.next_seq
        self.entries[seq] = fields
        self.next_seq += 1
        return seq

    def ready(self, group: _Group) -> int:
        # Entries past a group's cursor are never collected, so the count is exact.
        return self.next_seq - 1 - group.cursor

    def collect(self, seq: int) -> None:
        """Drop an entry every group has consumed and settled; keeps a long run's memory flat."""
        if all(group.cursor >= seq and seq not in group.pending for group in self.groups.values()):
            self.entries.pop(seq, None)


@dataclass(slots=True, eq=False)
class _MemoryDelivery(Delivery):
    stream: _Stream | None = None
    group: _Group | None = None
    seq: int = 0


class MemorySubscription(BaseSubscription[_MemoryDelivery]):
    """A consumer of one memory queue; see `BaseSubscription`."""

    def __init__(self, provider: MemoryQueueProvider, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._provider = provider

    async def _read_loop(self) -> None:
        while await self._wait_for_capacity():
            deliveries, next_due = self._provider._take(self, self._free())
            for delivery in deliveries:
                self._dispatch(delivery)
            if not deliveries:
                await self._wait_for_wakeup(None if next_due is None else max(0.0, next_due - time.monotonic()))

    def wake(self) -> None:
        self._wakeup.set()

    async def _ack(self, delivery: _MemoryDelivery) -> None:
        assert delivery.stream is not None and delivery.group is not None
        delivery.acknowledged = delivery.group.pending.pop(delivery.seq, None) is not None
        delivery.group.settled += delivery.acknowledged
        delivery.stream.collect(delivery.seq)
        delivery.settled = True

    async def _move_to_dead_letter(
        self, delivery: _MemoryDelivery, envelope: QueueMessage, *, raw: bytes | None
    ) -> None:
        assert delivery.stream is not None and delivery.group is not None
        fields: Fields = {"mid": envelope.id.encode(), "env": envelope.encode()}
        if raw is not None:
            fields["raw"] = raw
        # No await between the ack and the append: atomic for every other task. As in Redis, an entry
        # no longer pending (settled before) is not dead-lettered twice.
        delivery.acknowledged = delivery.group.pending.pop(delivery.seq, None) is not None
        if delivery.acknowledged:
            delivery.group.settled += 1
            self._provider._append(self._dead_letter_queue, fields)
        delivery.stream.collect(delivery.seq)
        delivery.settled = True

    def _release(self, delivery: _MemoryDelivery) -> None:
        assert delivery.group is not None
        pending = delivery.group.pending.get(delivery.seq)
        if pending is not None:
            pending.handling = False
            pending.ready_at = time.monotonic() + self._provider.redelivery_delay_seconds


class MemoryQueueProvider:
    """An in-process queue with the Redis Streams semantics (docs/guides/deployment.md, memory queue).

    Queues are streams with consumer groups (one per subscription, created from the start), a
    pending map with delivery counts, an atomic DLQ move and per-scope dedupe sets. An unacked
    delivery whose handler has ended becomes ready again after `redelivery_delay_seconds`; at
    subscribe, pending entries nobody is handling are redelivered at once. Nothing survives the
    instance: all state lives in it, so a "restart" is a new, empty provider.

    Entries consumed and settled by every group are dropped to keep memory flat, so unlike Redis a
    group created later does not see them.

    Args:
        redelivery_delay_seconds: How long an unacked, no-longer-handled delivery waits before it
            is delivered again (1 s in production).
    """

    def __init__(self, *, redelivery_delay_seconds: float = 1.0) -> None:
        self.redelivery_delay_seconds = redelivery_delay_seconds
        self._streams: dict[str, _Stream] = {}
        self._dedupe: dict[str, set[str]] = {}
        self._subscriptions: dict[tuple[str, str], MemorySubscription] = {}
        self._stats = ProviderStats()
        self._connected = False
        self._close_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"MemoryQueueProvider(queues={len(self._streams)}, subscriptions={len(self._subscriptions)})"

    async def __aenter__(self) -> MemoryQueueProvider:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ lifecycle
    async def connect(self) -> None:
        """Mark the provider usable; idempotent."""
        self._connected = True

    async def close(self) -> None:
        """Stop every subscription at once (running handlers are cancelled, nothing is acked); idempotent.

        Queued and pending entries stay in the instance.
        """
        async with self._close_lock:
            for subscription in list(self._subscriptions.values()):
                await subscription._shutdown(0, cancel_reader=True)
            self._connected = False

    def _require_connected(self) -> None:
        if not self._connected:
            raise QueueError("The memory queue is not connected; call `connect()` first.", code="queue_not_connected")

    # ------------------------------------------------------------------ publishing
    async def publish(
        self, queue: str, message: QueueMessage, *, dedupe_scope: str | None = None, force: bool = False
    ) -> PublishStatus:
        """Append `message`; inside `dedupe_scope` a repeated `(queue, message.id)` is a `DUPLICATE`.

        `force` skips the check (the id is still recorded).
        """
        self._require_connected()
        return self._publish_one(queue, message, message.encode(), dedupe_scope, force)

    async def publish_batch(
        self, queue: str, messages: Sequence[QueueMessage], *, dedupe_scope: str | None = None
    ) -> list[PublishStatus]:
        """`publish` for each message, in order; one status per message."""
        self._require_connected()
        encoded = [message.encode() for message in messages]
        return [
            self._publish_one(queue, message, data, dedupe_scope, False)
            for message, data in zip(messages, encoded, strict=True)
        ]

    def _publish_one(
        self, queue: str, message: QueueMessage, data: bytes, dedupe_scope: str | None, force: bool
    ) -> PublishStatus:
        if dedupe_scope is not None:
            members = self._dedupe.setdefault(dedupe_key(dedupe_scope), set())
            member = dedupe_member(queue, message.id, dedupe_scope)
            if member in members and not force:
                return PublishStatus.DUPLICATE
            members.add(member)
        self._append(queue, {"mid": message.id.encode(), "env": data})
        return PublishStatus.PUBLISHED

    def _append(self, queue: str, fields: Fields) -> None:
        self._streams.setdefault(queue, _Stream()).append(fields)
        self._wake(queue)

    async def _append_raw(self, queue: str, fields: Fields) -> None:
        """Append an entry with arbitrary fields (tests: undecodable entries)."""
        self._append(queue, dict(fields))

    def _wake(self, queue: str) -> None:
        for (name, _), subscription in self._subscriptions.items():
            if name == queue:
                subscription.wake()

    # ------------------------------------------------------------------ consuming
    async def subscribe(
        self,
        queue: str,
        subscription: str,
        handler: MessageHandler,
        *,
        prefetch: int,
        dead_letter_queue: str,
        on_dead_letter: DeadLetterCallback | None = None,
        on_lost_state: LostStateCallback | None = None,
        on_settled: SettledCallback | None = None,
    ) -> MemorySubscription:
        """Create the group if needed and start delivering to `handler` (see `QueueProtocol.subscribe`).

        `on_lost_state` is accepted for parity and never called: memory state cannot vanish while
        the instance lives.

        Raises:
            QueueError: not connected, or this provider already runs a subscription for the group.
        """
        self._require_connected()
        key = (queue, subscription)
        if key in self._subscriptions:
            raise QueueError(f"Subscription {subscription!r} on {queue!r} is already running.", code="queue_error")
        group = self._streams.setdefault(queue, _Stream()).groups.setdefault(subscription, _Group())
        for pending in group.pending.values():
            if not pending.handling:
                pending.ready_at = 0.0
        running = MemorySubscription(
            self,
            queue=queue,
            subscription=subscription,
            handler=handler,
            prefetch=prefetch,
            dead_letter_queue=dead_letter_queue,
            on_dead_letter=on_dead_letter,
            on_lost_state=on_lost_state,
            on_settled=on_settled,
            stats=self._stats,
            on_stopped=self._forget,
        )
        self._subscriptions[key] = running
        running.start()
        return running

    def _forget(self, subscription: BaseSubscription[_MemoryDelivery]) -> None:
        key = (subscription.queue, subscription.subscription)
        if self._subscriptions.get(key) is subscription:
            del self._subscriptions[key]

    def _take(self, subscription: MemorySubscription, count: int) -> tuple[list[_MemoryDelivery], float | None]:
        """Up to `count` deliveries (due redeliveries first), and when the next redelivery falls due."""
        stream = self._streams.setdefault(subscription.queue, _Stream())
        group = stream.groups.setdefault(subscription.subscription, _Group())
        now = time.monotonic()
        taken: list[_MemoryDelivery] = []
        next_due: float | None = None
        for seq in sorted(group.pending):
            pending = group.pending[seq]
            if pending.handling:
                continue
            if pending.ready_at > now:
                next_due = pending.ready_at if next_due is None else min(next_due, pending.ready_at)
                continue
            if len(taken) >= count:
                break
            fields = stream.entries.get(seq)
            if fields is None:
                del group.pending[seq]
                continue
            pending.handling = True
            pending.delivery_count += 1
            taken.append(self._delivery(stream, group, seq, fields, pending.delivery_count))
        while len(taken) < count and group.cursor < stream.next_seq - 1:
            group.cursor += 1
            fields = stream.entries.get(group.cursor)
            if fields is None:
                continue
            group.pending[group.cursor] = _Pending(delivery_count=1, handling=True)
            taken.append(self._delivery(stream, group, group.cursor, fields, 1))
        return taken, next_due

    @staticmethod
    def _delivery(stream: _Stream, group: _Group, seq: int, fields: Fields, count: int) -> _MemoryDelivery:
        mid = fields.get("mid")
        return _MemoryDelivery(
            entry_id=f"{seq}-0",
            message_id=mid.decode(errors="replace") if mid is not None else None,
            data=fields.get("env"),
            delivery_count=count,
            stream=stream,
            group=group,
            seq=seq,
        )

    # ------------------------------------------------------------------ inspection and cleanup
    async def depth(self, queue: str, subscription: str) -> QueueDepth:
        """`ready` (never delivered to the group) and `pending` (delivered, unacked)."""
        stream = self._streams.get(queue)
        if stream is None:
            return QueueDepth(ready=0, pending=0)
        group = stream.groups.get(subscription)
        if group is None:
            return QueueDepth(ready=len(stream.entries), pending=0)
        return QueueDepth(ready=stream.ready(group), pending=len(group.pending), settled=group.settled)

    async def purge_prefix(self, prefix: str) -> int:
        """Drop every queue and dedupe set whose name starts with `prefix`; returns how many.

        A running subscription on a dropped queue sees a new, empty queue.
        """
        names = [name for name in self._streams if name.startswith(prefix)]
        names += [name for name in self._dedupe if name.startswith(prefix)]
        return self._drop(names)

    async def delete_queues(self, queues: Sequence[str]) -> int:
        """Drop exactly these queues (not the dedupe sets); returns how many existed."""
        return self._drop([name for name in dict.fromkeys(queues) if name in self._streams])

    def _drop(self, names: list[str]) -> int:
        for name in names:
            self._streams.pop(name, None)
            self._dedupe.pop(name, None)
            self._wake(name)
        if names:
            logger.debug("Memory queue dropped %d keys", len(names))
        return len(names)

    async def health(self) -> QueueHealth:
        """Always reachable; `stalled` if a reader died, `degraded` before `connect()`."""
        active = list(self._subscriptions.values())
        state: Literal["healthy", "degraded", "stalled"]
        if not self._connected:
            state, message = "degraded", "not connected"
        elif any(not subscription.reader_alive for subscription in active):
            state, message = "stalled", "a subscription reader ended unexpectedly"
        else:
            state, message = "healthy", None
        details = self._stats.details(
            provider="memory",
            connected=self._connected,
            health_state=state,
            active_subscriptions=len(active),
            pending_total=sum(subscription.outstanding() for subscription in active),
            queues=len(self._streams),
        )
        return QueueHealth(
            provider="memory",
            connected=self._connected,
            health_state=state,
            message=message,
            details=details,
        )
