"""A queue provider wrapper that measures per-hop latency without touching the envelopes.

It remembers `time.perf_counter()` when a message is published to a queue and, when a route's
handler is called for that (queue, message id), records the difference: the hop latency. The
wrapped provider sees the very same calls, so nothing is copied or re-encoded; the bookkeeping
is one dict insert and one pop per hop (well under a microsecond each).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from factflow_protocols import (
    DeadLetterCallback,
    LostStateCallback,
    MessageHandler,
    MessageStatus,
    PublishStatus,
    QueueDepth,
    QueueHealth,
    QueueMessage,
    QueueProtocol,
    SettledCallback,
    Subscription,
)

__all__ = ("TimingQueue", "percentile")


def percentile(samples: Sequence[float], fraction: float) -> float | None:
    """The `fraction` percentile (nearest rank) of `samples`, or None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


class TimingQueue:
    """Delegates to `inner`, timing publish → handler start for every message.

    Attributes:
        latencies: Hop latencies in seconds, by physical queue name.
        last_settled: `perf_counter()` when the last handler returned.
        handled: Handler calls that returned.
    """

    def __init__(self, inner: QueueProtocol) -> None:
        self.inner = inner
        self._sent: dict[tuple[str, str], float] = {}
        self.latencies: dict[str, list[float]] = {}
        self.last_settled = 0.0
        self.handled = 0
        self._target = 0
        self._reached = asyncio.Event()

    async def wait_handled(self, count: int) -> None:
        """Wait until `count` handler calls returned."""
        self._target = count
        if self.handled >= count:
            return
        self._reached.clear()
        await self._reached.wait()

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def publish(
        self, queue: str, message: QueueMessage, *, dedupe_scope: str | None = None, force: bool = False
    ) -> PublishStatus:
        self._sent.setdefault((queue, message.id), time.perf_counter())
        return await self.inner.publish(queue, message, dedupe_scope=dedupe_scope, force=force)

    async def publish_batch(
        self, queue: str, messages: Sequence[QueueMessage], *, dedupe_scope: str | None = None
    ) -> list[PublishStatus]:
        now = time.perf_counter()
        for message in messages:
            self._sent.setdefault((queue, message.id), now)
        return await self.inner.publish_batch(queue, messages, dedupe_scope=dedupe_scope)

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
        samples = self.latencies.setdefault(queue, [])

        async def timed(message: QueueMessage) -> MessageStatus:
            sent = self._sent.pop((queue, message.id), None)
            if sent is not None:
                samples.append(time.perf_counter() - sent)
            status = await handler(message)
            self.handled += 1
            self.last_settled = time.perf_counter()
            if self._target and self.handled >= self._target:
                self._reached.set()
            return status

        return await self.inner.subscribe(
            queue,
            subscription,
            timed,
            prefetch=prefetch,
            dead_letter_queue=dead_letter_queue,
            on_dead_letter=on_dead_letter,
            on_lost_state=on_lost_state,
            on_settled=on_settled,
        )

    async def depth(self, queue: str, subscription: str) -> QueueDepth:
        return await self.inner.depth(queue, subscription)

    async def purge_prefix(self, prefix: str) -> int:
        return await self.inner.purge_prefix(prefix)

    async def delete_queues(self, queues: Sequence[str]) -> int:
        return await self.inner.delete_queues(queues)

    async def health(self) -> QueueHealth:
        return await self.inner.health()
