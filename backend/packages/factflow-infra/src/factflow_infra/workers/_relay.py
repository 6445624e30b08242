"""`RedisRequestRelay`: standby servers hand requests to the leader through Redis and wait for the answer.

A standby pushes a request (a JSON object carrying `request_id` and a `deadline`) onto one Redis
list and blocks on a reply list of that request's own; the leader pops requests, drops those past
their deadline (their sender has given up), and pushes each answer onto its reply list, which
expires if nobody reads it. No leader (or a dead one) means no answer: the sender times out.

Who decides a request's fate at the deadline is settled by one claim key per request: the leader
sets it to `taken` before it runs the request, a sender that timed out sets it to `abandoned`;
whoever comes first wins (SET NX). So a sender that gives up knows the request will never run,
and a sender whose request was taken waits for the answer a while longer instead of reporting a
failure for a write that happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from factflow_foundation import new_id
from factflow_protocols import QueueUnavailableError

from ..errors import UnsupportedProviderUrlError
from ..queue._redis_support import mask_url

__all__ = ("RedisRequestRelay", "RelayHandler", "RelayUnansweredError")

logger = logging.getLogger(__name__)

RelayHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Answers one relayed request (the leader's side)."""

_REPLY_TTL_SECONDS = 60
_POLL_SECONDS = 1.0
_STUCK_SLACK_SECONDS = 10.0
"""How long past its own timeout a blocking read may take before its connection counts as stuck."""
_TAKEN = b"taken"
_ABANDONED = b"abandoned"


class RelayUnansweredError(Exception):
    """The leader took the request but sent no answer in time: it may have been carried out."""


class RedisRequestRelay:
    """Requests from standbys to the leader over Redis lists (see the module docstring).

    Args:
        redis: A client on the queue's Redis (closed by `close()` only when made by `from_url`).
        key_prefix: Namespace of the keys.
    """

    def __init__(self, redis: Redis, *, key_prefix: str = "factflow:relay", taken_grace_seconds: float = 30.0) -> None:
        self._redis = redis
        self._owns_client = False
        self._requests_key = f"{{{key_prefix}}}:requests"
        self._reply_prefix = f"{{{key_prefix}}}:reply:"
        self._claim_prefix = f"{{{key_prefix}}}:claim:"
        self._taken_grace_seconds = taken_grace_seconds
        self._serving: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisRequestRelay:
        """A relay on its own client for `url`; `close()` closes it.

        Raises:
            UnsupportedProviderUrlError: the URL is malformed.
        """
        try:
            # No socket timeout: BLPOP blocks up to a wait's whole timeout (redis-py would cut every
            # read at 5 s); each blocking call is bounded by `asyncio.timeout` instead.
            client = Redis.from_url(
                url,
                protocol=2,
                socket_connect_timeout=5.0,
                socket_timeout=None,
                socket_keepalive=True,
                client_name="factflow:relay",
            )
        except ValueError as exc:
            raise UnsupportedProviderUrlError(f"Invalid Redis URL {mask_url(url)!r}: {exc}") from exc
        relay = cls(client, **options)
        relay._owns_client = True
        return relay

    async def submit(self, request: dict[str, Any], *, timeout_seconds: float) -> dict[str, Any] | None:
        """Hand `request` to the leader and wait for its answer.

        Returns:
            The answer, or None when no leader took the request within `timeout_seconds` (and
            none will: the sender abandons it).

        Raises:
            QueueUnavailableError: Redis cannot be reached.
            RelayUnansweredError: The leader took the request but did not answer within
                `taken_grace_seconds` after the timeout (it died with it, or it is that slow).
        """
        request_id = new_id()
        envelope = {**request, "request_id": request_id, "deadline": time.time() + timeout_seconds}
        reply_key = self._reply_prefix + request_id
        claim_key = self._claim_prefix + request_id
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(self._requests_key, json.dumps(envelope))
                # Without a leader nothing pops: the list goes once every request in it is stale.
                pipe.expire(self._requests_key, _REPLY_TTL_SECONDS + int(timeout_seconds))
                await pipe.execute()
            # BLPOP takes whole seconds on old servers; round up so the wait is never shorter.
            async with asyncio.timeout(timeout_seconds + _STUCK_SLACK_SECONDS):
                popped = await self._redis.blpop([reply_key], timeout=_whole_seconds(timeout_seconds))
            if popped is None:
                if await self._redis.set(claim_key, _ABANDONED, nx=True, ex=_REPLY_TTL_SECONDS):
                    return None  # the leader will drop it: nothing was done
                # The leader took it first: its answer is on the way (or it died with the request).
                async with asyncio.timeout(self._taken_grace_seconds + _STUCK_SLACK_SECONDS):
                    popped = await self._redis.blpop([reply_key], timeout=_whole_seconds(self._taken_grace_seconds))
        except (RedisError, OSError) as exc:  # OSError includes a stuck connection's TimeoutError
            raise QueueUnavailableError(f"Redis is unavailable for relaying a request to the leader: {exc}") from exc
        if popped is None:
            waited = timeout_seconds + self._taken_grace_seconds
            raise RelayUnansweredError(f"the leader took the request but did not answer within {waited:g} s")
        reply: dict[str, Any] = json.loads(popped[1])
        return reply

    def serve(self, handler: RelayHandler) -> None:
        """Answer relayed requests in the background with `handler` until `close()`; idempotent."""
        if self._serving is None:
            self._serving = asyncio.get_running_loop().create_task(self._serve(handler), name="relay:serve")

    async def _serve(self, handler: RelayHandler) -> None:
        failing = False
        while True:
            try:
                async with asyncio.timeout(_POLL_SECONDS + _STUCK_SLACK_SECONDS):
                    popped = await self._redis.blpop([self._requests_key], timeout=_POLL_SECONDS)
            except (RedisError, OSError) as exc:
                if not failing:
                    logger.warning("relayed requests cannot be read, retrying: %s", exc)
                failing = True
                await asyncio.sleep(_POLL_SECONDS)
                continue
            failing = False
            if popped is None:
                continue
            try:
                request = json.loads(popped[1])
            except ValueError:
                logger.warning("dropped a malformed relayed request")
                continue
            if not isinstance(request, dict) or float(request.get("deadline", 0)) <= time.time():
                continue  # its sender has already given up
            try:
                taken = await self._take(request)
            except (RedisError, OSError) as exc:
                logger.warning("a relayed request could not be taken; its sender will retry: %s", exc)
                continue
            if not taken:
                continue  # its sender gave up first
            task = asyncio.get_running_loop().create_task(self._answer(handler, request))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _take(self, request: dict[str, Any]) -> bool:
        """Claim `request` for this leader; False when its sender abandoned it first."""
        ttl = _REPLY_TTL_SECONDS + _whole_seconds(float(request["deadline"]) - time.time() + self._taken_grace_seconds)
        return bool(await self._redis.set(self._claim_prefix + str(request.get("request_id")), _TAKEN, nx=True, ex=ttl))

    async def _answer(self, handler: RelayHandler, request: dict[str, Any]) -> None:
        reply_key = self._reply_prefix + str(request.get("request_id"))
        try:
            reply = await handler(request)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(reply_key, json.dumps(reply))
                pipe.expire(reply_key, _REPLY_TTL_SECONDS)
                await pipe.execute()
        except Exception:
            logger.exception("answering a relayed request failed")

    async def close(self) -> None:
        """Stop serving (answers under way finish first) and close an owned client; idempotent."""
        task, self._serving = self._serving, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._owns_client:
            self._owns_client = False
            await self._redis.aclose()


def _whole_seconds(seconds: float) -> int:
    """`seconds` rounded up, at least 1: BLPOP and EX take whole seconds on old servers."""
    return max(1, math.ceil(seconds))
