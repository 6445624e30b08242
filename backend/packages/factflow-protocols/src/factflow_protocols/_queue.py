"""The queue provider contract (`QueueProtocol`) and its value types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from ._json import JSONObject
from ._messages import QueueMessage

__all__ = (
    "DeadLetterCallback",
    "LostStateCallback",
    "MessageHandler",
    "MessageStatus",
    "PublishStatus",
    "QueueDepth",
    "QueueHealth",
    "QueueProtocol",
    "SettledCallback",
    "Subscription",
    "SubscriptionStatus",
)


class MessageStatus(StrEnum):
    """What a handler's return value does to the delivery."""

    ACK = "ack"
    """Remove the delivery."""
    DEAD_LETTER = "dead_letter"
    """Append the envelope (with `control.dead_letter`) to the DLQ and ack, atomically.

    The envelope written is the `QueueMessage` the handler received, as the handler left it: set
    `message.control.dead_letter` before returning. Providers fill a minimal record
    (`reason="dead_lettered"`) when the handler set none.
    """
    RETRY = "retry"
    """Leave unacked; redelivered later with `delivery_count + 1`."""


class PublishStatus(StrEnum):
    """Outcome of a publish."""

    PUBLISHED = "published"
    DUPLICATE = "duplicate"


MessageHandler = Callable[[QueueMessage], Awaitable[MessageStatus]]
"""Called once per delivery; its return value is the acknowledgement."""

DeadLetterCallback = Callable[[QueueMessage | None, str], Awaitable[None]]
"""Told about entries the provider dead-letters itself (`undecodable`), with the reason.

Providers pass the envelope they wrote to the DLQ (for an undecodable entry: a stand-in with an
empty payload and `metadata.dead_letter`), or `None` when there is none. Failures are logged and
ignored.
"""

LostStateCallback = Callable[[str, str], Awaitable[None]]
"""Told `(queue, subscription)` when a subscription found its queue or consumer group gone (Redis
`NOGROUP`, e.g. a restart without persistence) and recreated it empty: messages may be lost and the
owner should reconcile (docs/concepts/executions.md). Failures are logged and ignored."""

SettledCallback = Callable[[QueueMessage, MessageStatus, bool], None]
"""Told `(message, status, acknowledged)` once for every delivery whose handler returned `ACK` or
`DEAD_LETTER`, after the provider tried to settle it. `acknowledged` is whether that settlement
removed an entry still pending for the group: False when the entry had vanished (lost state), was
settled already (a repeated delivery), or the settlement failed and the entry stays pending.
Called synchronously; failures are logged and ignored."""

HealthState = Literal["healthy", "degraded", "stalled", "reconnecting"]


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Entries of a queue as seen by one subscription."""

    ready: int
    """Never delivered to the subscription."""
    pending: int
    """Delivered and not yet acknowledged."""
    settled: int = field(default=0, compare=False)
    """Delivered and acknowledged (or dead-lettered) since the group was created; a history figure,
    not part of what the queue holds, so depths compare equal without it."""

    @property
    def total(self) -> int:
        return self.ready + self.pending


@dataclass(frozen=True, slots=True)
class SubscriptionStatus:
    """A subscription's state."""

    queue: str
    subscription: str
    paused: bool
    stopped: bool
    outstanding: int
    """Deliveries handed to the handler and not yet acknowledged."""
    prefetch: int


@dataclass(frozen=True, slots=True)
class QueueHealth:
    """Provider health for `system health`."""

    provider: str
    connected: bool
    health_state: HealthState
    message: str | None = None
    details: JSONObject = field(default_factory=dict)


@runtime_checkable
class Subscription(Protocol):
    """A running consumer of one queue."""

    @property
    def queue(self) -> str: ...

    @property
    def subscription(self) -> str: ...

    def pause(self) -> None:
        """Stop reading new entries; deliveries in progress continue."""

    def resume(self) -> None:
        """Start reading again."""

    async def stop(self, grace_seconds: float | None = 30.0) -> None:
        """Stop reading, wait for the reader, then drain: unacked deliveries stay pending.

        Handlers already running get `grace_seconds` to finish (their acks still count); the rest
        are cancelled. `None` waits without limit, `0` cancels at once. Idempotent.
        """

    def status(self) -> SubscriptionStatus:
        """Current state."""

    def outstanding(self) -> int:
        """Deliveries received and not yet settled (running handlers plus any held while paused)."""


@runtime_checkable
class QueueProtocol(Protocol):
    """A queue provider: memory or Redis Streams, with the same semantics.

    Queue names reaching a provider are already execution-scoped
    (`factflow:{<execution_id>}:<queue>`).
    """

    async def connect(self) -> None:
        """Open connections; idempotent."""

    async def close(self) -> None:
        """Stop every subscription and close connections; never acks."""

    async def publish(
        self, queue: str, message: QueueMessage, *, dedupe_scope: str | None = None, force: bool = False
    ) -> PublishStatus:
        """Append `message`; inside a scope a repeated `(queue, message.id)` is a `DUPLICATE`."""

    async def publish_batch(
        self, queue: str, messages: Sequence[QueueMessage], *, dedupe_scope: str | None = None
    ) -> list[PublishStatus]:
        """Pipelined `publish` of several messages."""

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
    ) -> Subscription:
        """Create the consumer group if needed and start delivering to `handler`.

        At most `prefetch` deliveries are outstanding; each runs `handler` in its own task and its
        return value is the acknowledgement. `on_lost_state` is called when the queue's state
        vanished underneath the subscription and was recreated (see `LostStateCallback`);
        `on_settled` after each `ACK` or `DEAD_LETTER` settlement (see `SettledCallback`).
        """

    async def depth(self, queue: str, subscription: str) -> QueueDepth:
        """Ready and pending entries for `subscription`."""

    async def purge_prefix(self, prefix: str) -> int:
        """Delete every queue (and dedupe set) whose name starts with `prefix`; returns the count."""

    async def delete_queues(self, queues: Sequence[str]) -> int:
        """Delete exactly these queues (not their dedupe sets); returns how many existed.

        For dropping an execution's ordinary queues while its DLQs stay: `purge_prefix` cannot,
        since a DLQ name may start with a queue's name (`site.embeddings.dlq`).
        """

    async def health(self) -> QueueHealth:
        """Provider health."""
