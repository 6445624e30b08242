"""Micro-batching: concurrent callers share one provider call."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

__all__ = ("BatchedVector", "MicroBatcher")

EmbedBatch = Callable[[Sequence[str]], Awaitable[list[list[float]]]]


@dataclass(frozen=True, slots=True)
class BatchedVector:
    """One caller's vector and the id of the batch (provider call) that produced it."""

    vector: list[float]
    batch_id: str
    batch_size: int


class MicroBatcher:
    """Collects texts from concurrent callers and embeds them in batches.

    A batch goes out as soon as it holds `batch_size` texts, or `wait_seconds` after its first
    text arrived. A failed call fails every caller of that batch (each message is retried on its
    own). A caller that is cancelled gives up its result, not the batch.
    """

    def __init__(self, embed: EmbedBatch, *, batch_size: int, wait_seconds: float) -> None:
        self._embed = embed
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._pending: list[tuple[str, asyncio.Future[BatchedVector]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0
        """Provider calls made so far."""

    async def submit(self, text: str) -> BatchedVector:
        """Queue one text and wait for its vector."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[BatchedVector] = loop.create_future()
        self._pending.append((text, future))
        if len(self._pending) >= self._batch_size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._wait_seconds, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            batch, self._pending = self._pending[: self._batch_size], self._pending[self._batch_size :]
            self.calls += 1
            task = asyncio.create_task(self._run(batch), name=f"embedding-batch:{self.calls}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[str, asyncio.Future[BatchedVector]]]) -> None:
        batch_id = str(uuid.uuid4())
        try:
            vectors = await self._embed([text for text, _ in batch])
            if len(vectors) != len(batch):
                raise ValueError(f"the provider returned {len(vectors)} vectors for {len(batch)} texts")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # handed to every caller of the batch
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), vector in zip(batch, vectors, strict=True):
            if not future.done():
                future.set_result(BatchedVector(vector=vector, batch_id=batch_id, batch_size=len(batch)))

    async def aclose(self) -> None:
        """Send what is pending and wait for every batch in flight."""
        self._flush()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
