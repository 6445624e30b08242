"""`CommandBatcher`: Redis commands issued at about the same time share one pipeline round trip."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis

__all__ = ("CommandBatcher",)

logger = logging.getLogger(__name__)

_Command = tuple[tuple[Any, ...], "asyncio.Future[Any]"]


class CommandBatcher:
    """Automatic pipelining of independent commands (publishes, acks, dead-letter moves).

    Every command submitted while no batch is being sent, or while `max_in_flight` batches are
    already under way, waits for the next batch; a batch goes out on the next turn of the event
    loop, as one non-transactional pipeline of at most `max_batch` commands. Under load the
    batches grow by themselves (hundreds of handlers acking at once cost one round trip); an
    isolated command goes out at once, so nothing is delayed on purpose.

    Each caller gets its own reply, or its own error: a command Redis refuses fails alone; a
    connection failure fails every command of the batch (redis-py's exception, which the
    provider translates and retries like any other call). A caller that stops waiting (timeout,
    cancellation) does not stop its command, exactly as when a reply is lost on the wire; the
    commands sent through here are idempotent or deduplicated for that reason.

    Args:
        client: The provider's client (its connection pool).
        max_batch: Commands per pipeline.
        max_in_flight: Pipelines under way at once.
    """

    def __init__(self, client: Redis, *, max_batch: int = 512, max_in_flight: int = 4) -> None:
        self._client = client
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._pending: list[_Command] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._scheduled = False
        self._closed = False

    async def execute(self, *args: Any) -> Any:
        """Send `args` as one command in the next batch; returns its reply.

        Raises:
            RedisError: Redis refused the command, or the batch failed on the connection.
            OSError: the batch failed on the socket.
        """
        if self._closed:
            raise ConnectionError("the command batcher is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((args, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if self._closed or self._scheduled or not self._pending or len(self._in_flight) >= self._max_in_flight:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._start_batch)

    def _start_batch(self) -> None:
        self._scheduled = False
        if not self._pending or len(self._in_flight) >= self._max_in_flight:
            return
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        task = asyncio.create_task(self._send(batch), name="queue-redis-batch")
        self._in_flight.add(task)
        task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._schedule()

    async def _send(self, batch: list[_Command]) -> None:
        live = [(args, future) for args, future in batch if not future.done()]
        if not live:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for args, _ in live:
                pipe.execute_command(*args)
            replies = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for _, future in live:
                if not future.done():
                    future.cancel()
            raise
        except BaseException as exc:
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), reply in zip(live, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def close(self) -> None:
        """Refuse new commands, let the batches under way finish, fail the ones never sent."""
        self._closed = True
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))
        pending, self._pending = self._pending, []
        for _, future in pending:
            if not future.done():
                future.set_exception(ConnectionError("the Redis queue was closed"))
