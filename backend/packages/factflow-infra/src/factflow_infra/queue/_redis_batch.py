"""`CommandBatcher`: Redis commands issued at about the same time share one round trip."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

__all__ = ("CommandBatcher", "pack_commands")

logger = logging.getLogger(__name__)


def pack_commands(commands: Sequence[Sequence[bytes | str | int]]) -> bytes:
    """The RESP encoding of `commands` (arrays of bulk strings), ready to send as one write."""
    # hiredis packs in C: half the cost of building the RESP frames in Python (≈ 1 µs per command
    # instead of 2.2), and every publish and ack of every delivery passes through here.
    # The stub types the argument as a 1-tuple; hiredis takes a tuple of any length.
    return b"".join([hiredis.pack_command(tuple(args)) for args in commands])  # type: ignore[arg-type]


@dataclass(slots=True)
class _Command:
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


class CommandBatcher:
    """Automatic pipelining of independent commands (publishes, acks, dead-letter moves).

    Every command submitted while no batch is being sent, or while `max_in_flight` batches are
    already under way, waits for the next batch; a batch goes out on the next turn of the event
    loop as one write of at most `max_batch` commands on one pooled connection, and its replies
    are read back in order. Under load the batches grow by themselves (hundreds of handlers
    acking at once cost one round trip); an isolated command goes out at once, so nothing is
    delayed on purpose. Each ack is an `XACK` of its own, so each caller learns whether its
    entry was still pending.

    Each caller gets its own reply, or its own error: a command Redis refuses fails alone; a
    connection failure fails every command of the batch (redis-py's exception, which the
    provider translates and retries like any other call). A batch is bounded by `timeout` as a
    whole, not reply by reply. As redis-py's pipelines do, a batch that
    finds its pooled connection dropped before any reply is sent once more on a fresh one. A
    caller that stops waiting does not stop its command, exactly as when a reply is lost on the
    wire; the commands sent through here are idempotent or deduplicated for that reason.

    Args:
        pool: The provider's connection pool.
        timeout: Longest time one batch may take (send and every reply).
        max_batch: Commands per batch.
        max_in_flight: Batches under way at once.
    """

    def __init__(self, pool: ConnectionPool, *, timeout: float, max_batch: int = 512, max_in_flight: int = 4) -> None:
        self._pool = pool
        self._timeout = timeout
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._commands: list[_Command] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._scheduled = False
        self._closed = False

    async def execute(self, *args: Any) -> Any:
        """Send `args` as one command in the next batch; returns its reply.

        Raises:
            RedisError: Redis refused the command, or the batch failed on the connection.
            OSError: the batch failed on the socket or timed out.
        """
        future = self._future()
        self._commands.append(_Command(args, future))
        self._schedule()
        return await future

    async def ack(self, stream: str, group: str, entry_id: str) -> bool:
        """`XACK stream group entry_id` in the next batch; whether the entry was still pending."""
        return bool(await self.execute("XACK", stream, group, entry_id))

    def _future(self) -> asyncio.Future[Any]:
        if self._closed:
            raise RedisConnectionError("the Redis queue was closed")
        return asyncio.get_running_loop().create_future()

    def _schedule(self) -> None:
        if self._closed or self._scheduled or not self._commands or len(self._in_flight) >= self._max_in_flight:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._start_batch)

    def _start_batch(self) -> None:
        self._scheduled = False
        if self._closed or not self._commands or len(self._in_flight) >= self._max_in_flight:
            return
        commands = self._commands[: self._max_batch]
        del self._commands[: self._max_batch]
        task = asyncio.create_task(self._send(commands), name="queue-redis-batch")
        self._in_flight.add(task)
        task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._schedule()

    async def _send(self, commands: list[_Command]) -> None:
        live = [command for command in commands if not command.future.done()]
        packed = [command.args for command in live]
        futures = [command.future for command in live]
        if not packed:
            return
        try:
            async with asyncio.timeout(self._timeout):
                replies = await self._round_trip(pack_commands(packed), len(packed))
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except BaseException as exc:
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, reply in zip(futures, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _round_trip(self, payload: bytes, count: int) -> list[Any]:
        for attempt in (1, 2):
            connection: AbstractConnection = await self._pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            replies: list[Any] = []
            try:
                await connection.send_packed_command(payload, check_health=False)
                for _ in range(count):
                    try:
                        # No per-read timeout: the batch as a whole is bounded by the caller.
                        replies.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as exc:
                        replies.append(exc)
                return replies
            except BaseException as exc:
                # Half-read or broken: never hand this connection to anyone else.
                await connection.disconnect(nowait=True)
                if attempt == 1 and not replies and isinstance(exc, RedisConnectionError):
                    continue  # a pooled connection the server dropped: once more on a fresh one
                raise
            finally:
                await self._pool.release(connection)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Refuse new commands, let the batches under way finish, fail the ones never sent."""
        self._closed = True
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))
        pending = [command.future for command in self._commands]
        self._commands = []
        for future in pending:
            if not future.done():
                future.set_exception(RedisConnectionError("the Redis queue was closed"))
