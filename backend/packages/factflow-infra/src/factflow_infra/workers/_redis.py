"""`RedisWorkerRegistry`: worker membership in Redis, shared by every server and worker process."""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..errors import UnsupportedProviderUrlError
from ..queue._redis_support import mask_url, text, translate_redis_error
from ._model import (
    DEFAULT_DEAD_RETENTION_SECONDS,
    DEFAULT_WORKER_TTL_SECONDS,
    WorkerRecord,
    WorkerRoute,
    validate_worker_id,
    worker_state,
)

__all__ = ("RedisWorkerRegistry",)

logger = logging.getLogger(__name__)

T = TypeVar("T")

_PRUNE_BATCH = 100
"""Dead records removed by one heartbeat at most; the next heartbeats take the rest."""

# Every timestamp is Redis's own `TIME`, so heartbeat ages agree across hosts whose clocks differ.
# `now` is kept as text (`<seconds>.<micros>`): Lua's number formatting would drop the microseconds.
_NOW = """
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
"""

_PRUNE = """
local horizon = tonumber(t[1]) - tonumber(ARGV[4])
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. horizon, 'LIMIT', 0, tonumber(ARGV[5]))
for _, id in ipairs(stale) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
"""

REGISTER_SCRIPT = (
    """
-- KEYS[1] info hash, KEYS[2] status hash, KEYS[3] heartbeat zset
-- ARGV[1] worker id, ARGV[2] info JSON, ARGV[3] status JSON, ARGV[4] seconds a record outlives its
-- last heartbeat (TTL + retention), ARGV[5] prune batch
"""
    + _NOW
    + """
redis.call('HSET', KEYS[1], ARGV[1], now .. '|' .. ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], now, ARGV[1])
"""
    + _PRUNE
    + "return now\n"
)
"""Write a worker's info (prefixed with `started_at`), an empty status and a heartbeat at once."""

HEARTBEAT_SCRIPT = (
    """
-- KEYS and ARGV as REGISTER_SCRIPT; the info is written only when the record was pruned meanwhile.
-- KEYS[4] the worker's metrics key, ARGV[6] its metrics text ('' keeps the last), ARGV[7] their TTL (ms)
"""
    + _NOW
    + """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  redis.call('HSET', KEYS[1], ARGV[1], now .. '|' .. ARGV[2])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], now, ARGV[1])
if ARGV[6] ~= '' then
  redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[7])
end
"""
    + _PRUNE
    + "return now\n"
)
"""Renew a heartbeat, replace the status and the metrics; re-create the info of a worker pruned while it was away."""


class RedisWorkerRegistry:
    """`WorkerRegistry` in Redis (docs/guides/scaling.md).

    Keys under `{<key_prefix>}` (one hash slot): `:info` (hash, worker id → `started_at|`
    JSON of host, pid, pools, version), `:status` (hash, worker id → JSON of draining, routes,
    in_flight, handled), `:heartbeats` (sorted set, worker id → time of the last heartbeat) and
    `:metrics:<worker id>` (the worker's metrics text, expiring with the TTL).
    `register` and `heartbeat` are one script each; `list` and `get` one `MULTI` round trip. Records
    dead for longer than `dead_retention_seconds` are pruned by the next heartbeats and never listed.

    redis-py errors surface as `QueueUnavailableError` (unreachable, timed out) or `QueueError`,
    chained `from` the original, as the queue provider raises them.

    Args:
        redis: A client on the queue's Redis; this registry closes it only if it made it
            (`from_url`).
        ttl_seconds: Heartbeat age at which a worker is dead.
        key_prefix: Namespace of the keys.
        dead_retention_seconds: How long a dead worker stays listed.
        operation_timeout_seconds: Limit of one Redis round trip.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        ttl_seconds: float = DEFAULT_WORKER_TTL_SECONDS,
        key_prefix: str = "factflow:workers",
        dead_retention_seconds: float = DEFAULT_DEAD_RETENTION_SECONDS,
        operation_timeout_seconds: float = 5.0,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        if dead_retention_seconds < 0:
            raise ValueError(f"dead_retention_seconds must not be negative, got {dead_retention_seconds!r}")
        self.ttl_seconds = ttl_seconds
        self.dead_retention_seconds = dead_retention_seconds
        self.operation_timeout_seconds = operation_timeout_seconds
        self.key_prefix = key_prefix
        self._redis = redis
        self._owns_client = False
        self._info_key = f"{{{key_prefix}}}:info"
        self._status_key = f"{{{key_prefix}}}:status"
        self._heartbeats_key = f"{{{key_prefix}}}:heartbeats"
        self._register_script = redis.register_script(REGISTER_SCRIPT)
        self._heartbeat_script = redis.register_script(HEARTBEAT_SCRIPT)
        self._registered: dict[str, str] = {}
        """Info JSON of the workers this instance registered, to re-create a pruned record."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisWorkerRegistry:
        """A registry on its own client for `url` (`redis://` or `rediss://`); `close()` closes it.

        Raises:
            UnsupportedProviderUrlError: the URL is malformed.
        """
        timeout = float(options.get("operation_timeout_seconds", 5.0))
        try:
            # No socket timeout: every call is bounded by `asyncio.timeout()` (see the queue provider).
            client = Redis.from_url(url, protocol=2, socket_connect_timeout=timeout, client_name="factflow:workers")
        except ValueError as exc:
            raise UnsupportedProviderUrlError(f"Invalid Redis URL {mask_url(url)!r}: {exc}") from exc
        registry = cls(client, **options)
        registry._owns_client = True
        return registry

    def __repr__(self) -> str:
        return f"RedisWorkerRegistry(key_prefix={self.key_prefix!r}, ttl_seconds={self.ttl_seconds!r})"

    async def close(self) -> None:
        """Close the client if this registry made it; idempotent."""
        if self._owns_client:
            self._owns_client = False
            await self._redis.aclose()

    # ------------------------------------------------------------------ writes
    async def register(self, *, worker_id: str, host: str, pid: int, pools: Sequence[str], version: str) -> None:
        validate_worker_id(worker_id)
        info = json.dumps({"host": host, "pid": pid, "pools": list(pools), "version": version})
        await self._write(self._register_script, worker_id, info, _status_json(False, (), 0, 0), "registering")
        self._registered[worker_id] = info

    async def heartbeat(
        self,
        worker_id: str,
        *,
        draining: bool = False,
        routes: Sequence[WorkerRoute] = (),
        in_flight: int = 0,
        handled: int = 0,
        metrics: str | None = None,
    ) -> None:
        info = self._registered.get(worker_id)
        if info is None:
            raise KeyError(f"Worker {worker_id!r} was not registered through this registry; call `register` first.")
        status = _status_json(draining, routes, in_flight, handled)
        await self._write(
            self._heartbeat_script,
            worker_id,
            info,
            status,
            "renewing a worker heartbeat",
            extra_keys=[self._metrics_key(worker_id)],
            extra_args=[metrics or "", max(1, round(self.ttl_seconds * 1000))],
        )

    def _metrics_key(self, worker_id: str) -> str:
        return f"{{{self.key_prefix}}}:metrics:{worker_id}"

    async def deregister(self, worker_id: str) -> None:
        # Forget it first: a heartbeat racing this call cannot re-create the record from here.
        self._registered.pop(worker_id, None)

        async def remove() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(self._info_key, worker_id)
                pipe.hdel(self._status_key, worker_id)
                pipe.zrem(self._heartbeats_key, worker_id)
                pipe.delete(self._metrics_key(worker_id))
                await pipe.execute()

        await self._call(f"deregistering worker {worker_id!r}", remove)

    async def _write(
        self,
        script: Any,
        worker_id: str,
        info: str,
        status: str,
        what: str,
        *,
        extra_keys: Sequence[str] = (),
        extra_args: Sequence[str | int] = (),
    ) -> None:
        keys = [self._info_key, self._status_key, self._heartbeats_key, *extra_keys]
        args = [worker_id, info, status, self.ttl_seconds + self.dead_retention_seconds, _PRUNE_BATCH, *extra_args]

        async def run() -> None:
            await script(keys=keys, args=args)

        await self._call(f"{what} ({worker_id!r})", run)

    # ------------------------------------------------------------------ reads
    async def list(self) -> builtins.list[WorkerRecord]:
        async def read() -> builtins.list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.time()
                pipe.hgetall(self._info_key)
                pipe.hgetall(self._status_key)
                pipe.zrange(self._heartbeats_key, 0, -1, withscores=True)
                return await pipe.execute()

        now_reply, infos, statuses, heartbeats = await self._call("listing workers", read)
        now = _seconds(now_reply)
        info_by_id = {text(key): text(value) for key, value in infos.items()}
        status_by_id = {text(key): text(value) for key, value in statuses.items()}
        records = []
        for member, score in heartbeats:
            worker_id = text(member)
            record = self._record(worker_id, info_by_id.get(worker_id), status_by_id.get(worker_id), score, now)
            if record is not None:
                records.append(record)
        records.sort(key=lambda record: record.worker_id)
        return records

    async def get(self, worker_id: str) -> WorkerRecord | None:
        async def read() -> builtins.list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.time()
                pipe.hget(self._info_key, worker_id)
                pipe.hget(self._status_key, worker_id)
                pipe.zscore(self._heartbeats_key, worker_id)
                return await pipe.execute()

        now_reply, info, status, score = await self._call(f"reading worker {worker_id!r}", read)
        if info is None or score is None:
            return None
        return self._record(worker_id, text(info), None if status is None else text(status), score, _seconds(now_reply))

    async def metrics(self, worker_ids: Sequence[str]) -> dict[str, str]:
        ids = list(worker_ids)
        if not ids:
            return {}

        async def read() -> builtins.list[Any]:
            return list(await self._redis.mget([self._metrics_key(worker_id) for worker_id in ids]))

        values = await self._call("reading worker metrics", read)
        return {worker_id: text(value) for worker_id, value in zip(ids, values, strict=True) if value is not None}

    async def live_workers_by_pool(self) -> dict[str, builtins.list[str]]:
        by_pool: dict[str, builtins.list[str]] = {}
        for record in await self.list():
            if record.live:
                for pool in record.pools:
                    by_pool.setdefault(pool, []).append(record.worker_id)
        return by_pool

    # ------------------------------------------------------------------ helpers
    async def _call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.operation_timeout_seconds):
                return await operation()
        except (RedisError, OSError) as exc:
            raise translate_redis_error(exc, what) from exc

    def _record(
        self, worker_id: str, info_text: str | None, status_text: str | None, heartbeat: float, now: float
    ) -> WorkerRecord | None:
        """The record, or None when it is incomplete (written by a newer version?) or due for pruning."""
        age = now - float(heartbeat)
        if info_text is None or age >= self.ttl_seconds + self.dead_retention_seconds:
            return None
        started_text, _, info_json = info_text.partition("|")
        try:
            info = json.loads(info_json)
            status = json.loads(status_text) if status_text else {}
            return WorkerRecord(
                worker_id=worker_id,
                host=str(info["host"]),
                pid=int(info["pid"]),
                pools=tuple(str(pool) for pool in info["pools"]),
                version=str(info["version"]),
                started_at=datetime.fromtimestamp(float(started_text), UTC),
                last_heartbeat=datetime.fromtimestamp(float(heartbeat), UTC),
                state=worker_state(
                    age_seconds=age, ttl_seconds=self.ttl_seconds, draining=bool(status.get("draining", False))
                ),
                routes=tuple(WorkerRoute(str(execution), str(route)) for execution, route in status.get("routes", ())),
                in_flight=int(status.get("in_flight", 0)),
                handled=int(status.get("handled", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("Skipping unreadable worker record %r: %s", worker_id, exc)
            return None


def _status_json(draining: bool, routes: Sequence[WorkerRoute], in_flight: int, handled: int) -> str:
    return json.dumps(
        {
            "draining": draining,
            "routes": [[route.execution_id, route.route_id] for route in routes],
            "in_flight": in_flight,
            "handled": handled,
        }
    )


def _seconds(time_reply: Any) -> float:
    """Redis `TIME` (as redis-py returns it: seconds, microseconds) in seconds."""
    seconds, micros = time_reply
    return int(seconds) + int(micros) / 1_000_000
