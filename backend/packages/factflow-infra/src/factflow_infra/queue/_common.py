"""Helpers shared by the queue providers: key names, deliveries, dead-letter envelopes, health bookkeeping."""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from factflow_foundation import Backoff, new_id, utc_now_rfc3339
from factflow_protocols import EnvelopeControl, QueueMessage

__all__ = (
    "BACKOFF_INITIAL_SECONDS",
    "BACKOFF_MAX_SECONDS",
    "redis_backoff",
    "DEDUPE_SET_NAME",
    "Delivery",
    "ProviderStats",
    "consumer_name",
    "dead_letter_envelope",
    "dedupe_key",
    "dedupe_member",
    "new_boot_id",
    "scope_of",
    "undecodable_envelope",
)

logger = logging.getLogger(__name__)

BACKOFF_INITIAL_SECONDS = 0.5
"""First wait after a failed Redis call (docs/guides/deployment.md, connection loss)."""
BACKOFF_MAX_SECONDS = 30.0
"""Longest wait between attempts."""


def redis_backoff() -> Backoff:
    """The wait between attempts of a failed Redis call: 0.5 s doubling to 30 s."""
    return Backoff(BACKOFF_INITIAL_SECONDS, BACKOFF_MAX_SECONDS)


DEDUPE_SET_NAME = "_dedupe"
"""Last segment of the per-scope dedupe record `factflow:{<scope>}:_dedupe` (a Redis hash)."""

_SCOPED_NAME = re.compile(r"^factflow:\{(?P<scope>[^}]*)\}:")


def dedupe_key(scope: str) -> str:
    """The dedupe record of a scope (an execution id): `factflow:{<scope>}:_dedupe`."""
    return f"factflow:{{{scope}}}:{DEDUPE_SET_NAME}"


def dedupe_member(queue: str, message_id: str, scope: str) -> str:
    """The dedupe-set member for `(queue, message_id)`: `<queue>|<message-id>`.

    `<queue>` is the logical name: the scope's own `factflow:{<scope>}:` prefix is dropped, so the
    set reads the same whatever physical prefix the scoped queue layer used.
    """
    prefix = f"factflow:{{{scope}}}:"
    name = queue[len(prefix) :] if queue.startswith(prefix) else queue
    return f"{name}|{message_id}"


def scope_of(queue: str) -> str | None:
    """The execution id inside a scoped queue name `factflow:{<exec>}:<queue>`, if it is one."""
    match = _SCOPED_NAME.match(queue)
    return match.group("scope") if match else None


def new_boot_id() -> str:
    """A random id that makes each provider instance a distinct consumer."""
    return secrets.token_hex(6)


def consumer_name(boot_id: str) -> str:
    """`<host>:<pid>:<boot-id>`; an earlier process therefore always shows up as a dead consumer."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()) or "host"
    return f"{host}:{os.getpid()}:{boot_id}"


@dataclass(slots=True, eq=False)
class Delivery:
    """One entry handed to a subscription, from read to settlement."""

    entry_id: str
    """Provider position of the entry (a stream id)."""
    message_id: str | None
    """The `mid` field, when present."""
    data: bytes | None
    """The msgpack envelope (`env` field); `None` when the entry has none."""
    delivery_count: int
    """Deliveries of this entry to the subscription's group, this one included."""
    settled: bool = False
    """Acked or dead-lettered; an unsettled delivery stays pending when its handler ends."""
    acknowledged: bool = False
    """The settlement removed an entry still pending for the group (not one lost or settled before)."""
    confirmed_at: float = 0.0
    """`time.monotonic()` when a call that restarted this consumer's lease on the entry was sent
    (the read, a claim, a renewal); 0 when unknown. Shared queues only."""


def dead_letter_envelope(message: QueueMessage) -> QueueMessage:
    """`message` ready for the DLQ: `control.dead_letter` as the handler set it, or a minimal record."""
    if message.control.dead_letter is not None:
        return message
    return message.with_control(
        dead_letter={
            "reason": "dead_lettered",
            "error_info": None,
            "route_id": message.route_id,
            "adapter_index": None,
            "stage": None,
            "attempts": message.delivery_count,
            "failed_at": utc_now_rfc3339(),
        }
    )


def undecodable_envelope(queue: str, delivery: Delivery, error: str) -> QueueMessage:
    """The stand-in written to the DLQ for an entry whose envelope cannot be decoded.

    It keeps the entry's `mid` (or a new id), takes the execution from the queue name, and records
    the reason `undecodable` with the decode error; the original bytes travel beside it (`raw`).
    """
    return QueueMessage(
        id=delivery.message_id or new_id(),
        execution_id=scope_of(queue),
        payload={},
        control=EnvelopeControl(
            delivery_count=delivery.delivery_count,
            dead_letter={
                "reason": "undecodable",
                "error_info": {"message": error[:500], "queue": queue, "entry_id": delivery.entry_id},
                "route_id": None,
                "adapter_index": None,
                "stage": None,
                "attempts": delivery.delivery_count,
                "failed_at": utc_now_rfc3339(),
            },
        ),
    )


@dataclass(slots=True)
class ProviderStats:
    """Connection and delivery facts behind `health()` details."""

    consecutive_failures: int = 0
    """Failed backend calls since the last success (the current outage's reconnect attempts)."""
    reconnects_total: int = 0
    """Outages recovered from since start."""
    last_error: str | None = None
    """The last backend error, for `health().message`."""
    last_delivery_at: float | None = None
    """`time.monotonic()` of the last delivery handed to a handler."""
    _outage_logged: bool = field(default=False, repr=False)

    def note_failure(self, exc: BaseException, what: str) -> None:
        """Count a failed call; the first of an outage is logged as a warning."""
        self.consecutive_failures += 1
        self.last_error = str(exc) or type(exc).__name__
        if not self._outage_logged:
            self._outage_logged = True
            logger.warning("Queue backend unavailable during %s; retrying with backoff: %s", what, self.last_error)
        else:
            logger.debug("Queue backend still unavailable during %s: %s", what, self.last_error)

    def note_success(self) -> None:
        """A call succeeded: end the current outage, if any."""
        if self.consecutive_failures:
            logger.info("Queue backend reachable again after %d failed attempts", self.consecutive_failures)
            self.reconnects_total += 1
            self.consecutive_failures = 0
            self.last_error = None
            self._outage_logged = False

    def note_delivery(self) -> None:
        self.last_delivery_at = time.monotonic()

    def details(self, *, provider: str, connected: bool, health_state: str, **extra: Any) -> dict[str, Any]:
        """The `system health --debug` queue block (`get_health`)."""
        age = None if self.last_delivery_at is None else round(time.monotonic() - self.last_delivery_at, 3)
        return {
            "provider": provider,
            "connected": connected,
            "health_state": health_state,
            "last_message_age_seconds": age,
            "reconnect_attempts": self.consecutive_failures,
            "reconnects_total": self.reconnects_total,
            **extra,
        }
