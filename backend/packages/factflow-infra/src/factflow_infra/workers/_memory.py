"""`MemoryWorkerRegistry`: the registry of one process (embedded mode: the server's own local worker)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ._model import (
    DEFAULT_DEAD_RETENTION_SECONDS,
    DEFAULT_WORKER_TTL_SECONDS,
    WorkerRecord,
    WorkerRoute,
    validate_worker_id,
    worker_state,
)

__all__ = ("MemoryWorkerRegistry",)


@dataclass(frozen=True, slots=True)
class _Entry:
    worker_id: str
    host: str
    pid: int
    pools: tuple[str, ...]
    version: str
    started_at: float
    last_heartbeat: float
    draining: bool = False
    routes: tuple[WorkerRoute, ...] = ()
    in_flight: int = 0
    handled: int = 0


class MemoryWorkerRegistry:
    """`WorkerRegistry` held in this process; same semantics as `RedisWorkerRegistry`.

    Args:
        ttl_seconds: Heartbeat age at which a worker is dead.
        dead_retention_seconds: How long a dead worker stays listed before it is pruned.
        clock: Seconds since the epoch (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        ttl_seconds: float = DEFAULT_WORKER_TTL_SECONDS,
        dead_retention_seconds: float = DEFAULT_DEAD_RETENTION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        if dead_retention_seconds < 0:
            raise ValueError(f"dead_retention_seconds must not be negative, got {dead_retention_seconds!r}")
        self.ttl_seconds = ttl_seconds
        self.dead_retention_seconds = dead_retention_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._registered: dict[str, _Entry] = {}
        self._metrics: dict[str, tuple[float, str]] = {}

    def __repr__(self) -> str:
        return f"MemoryWorkerRegistry(ttl_seconds={self.ttl_seconds!r}, workers={len(self._entries)})"

    async def close(self) -> None:
        """Nothing to release."""

    async def register(self, *, worker_id: str, host: str, pid: int, pools: Sequence[str], version: str) -> None:
        validate_worker_id(worker_id)
        now = self._clock()
        entry = _Entry(worker_id, host, pid, tuple(pools), version, started_at=now, last_heartbeat=now)
        self._entries[worker_id] = entry
        self._registered[worker_id] = entry
        self._prune(now)

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
        registered = self._registered.get(worker_id)
        if registered is None:
            raise KeyError(f"Worker {worker_id!r} was not registered through this registry; call `register` first.")
        now = self._clock()
        current = self._entries.get(worker_id, registered)
        self._entries[worker_id] = replace(
            current,
            last_heartbeat=now,
            draining=draining,
            routes=tuple(routes),
            in_flight=in_flight,
            handled=handled,
        )
        if metrics is not None:
            self._metrics[worker_id] = (now, metrics)
        self._prune(now)

    async def deregister(self, worker_id: str) -> None:
        self._entries.pop(worker_id, None)
        self._registered.pop(worker_id, None)
        self._metrics.pop(worker_id, None)

    async def metrics(self, worker_ids: Sequence[str]) -> dict[str, str]:
        horizon = self._clock() - self.ttl_seconds
        found = {worker_id: self._metrics.get(worker_id) for worker_id in worker_ids}
        return {worker_id: item[1] for worker_id, item in found.items() if item is not None and item[0] > horizon}

    async def list(self) -> builtins.list[WorkerRecord]:
        now = self._clock()
        self._prune(now)
        return [self._record(entry, now) for _, entry in sorted(self._entries.items())]

    async def get(self, worker_id: str) -> WorkerRecord | None:
        now = self._clock()
        self._prune(now)
        entry = self._entries.get(worker_id)
        return None if entry is None else self._record(entry, now)

    async def live_workers_by_pool(self) -> dict[str, builtins.list[str]]:
        by_pool: dict[str, builtins.list[str]] = {}
        for record in await self.list():
            if record.live:
                for pool in record.pools:
                    by_pool.setdefault(pool, []).append(record.worker_id)
        return by_pool

    def _prune(self, now: float) -> None:
        horizon = now - self.ttl_seconds - self.dead_retention_seconds
        for worker_id in [key for key, entry in self._entries.items() if entry.last_heartbeat < horizon]:
            del self._entries[worker_id]
            self._metrics.pop(worker_id, None)

    def _record(self, entry: _Entry, now: float) -> WorkerRecord:
        return WorkerRecord(
            worker_id=entry.worker_id,
            host=entry.host,
            pid=entry.pid,
            pools=entry.pools,
            version=entry.version,
            started_at=datetime.fromtimestamp(entry.started_at, UTC),
            last_heartbeat=datetime.fromtimestamp(entry.last_heartbeat, UTC),
            state=worker_state(
                age_seconds=now - entry.last_heartbeat, ttl_seconds=self.ttl_seconds, draining=entry.draining
            ),
            routes=entry.routes,
            in_flight=entry.in_flight,
            handled=entry.handled,
        )
