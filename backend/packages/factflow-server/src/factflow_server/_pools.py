"""Worker pools on the server side: where the routes of an execution run (docs/concepts/workers.md).

(The local worker's registration and heartbeat are `WorkerMonitor`'s, in `_workers.py`.)

An execution runs entirely in the server, counted in process, as before workers existed, when the
server's local worker serves every route's pool and no worker process serves any of them. Otherwise
it is **shared**: the server keeps its control part (init message, seed, completion, recovery) and
the routes of its local pools, the worker processes run the rest, and every count comes from the
queue's shared state (docs/concepts/workers.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from factflow_engine.config import DEFAULT_POOL, ConfigSnapshot, RouteConfig
from factflow_engine.runtime import Placement
from factflow_foundation import FactflowError, FactflowSettings
from factflow_infra.queue import MemoryQueueProvider, RedisSharedState, RedisStreamsQueueProvider
from factflow_infra.workers import WorkerRecord, WorkerRegistry, create_worker_registry

__all__ = (
    "DEFAULT_POOL",
    "PoolPlacement",
    "WorkerPools",
    "live_worker_ids",
    "worker_is_live",
    "route_pool",
    "wire_worker_pools",
)

logger = logging.getLogger(__name__)


def route_pool(route: RouteConfig) -> str:
    """The pool a route runs in (`inbound.pool`, `default` when unset)."""
    return route.inbound.pool


def live_worker_ids(registry: WorkerRegistry, *, own_id: str | None = None) -> Callable[[], Awaitable[set[str]]]:
    """The ids of every live worker, as the queue's consumer liveness check wants them.

    A record of this host whose process is gone, or that carries this very pid under another id
    (an earlier boot of this process's container), is not live, even before its heartbeat ages
    past the TTL: a server or worker restarted at once must claim its predecessor's unacked
    entries at subscribe, not wait for their lease to run out.
    """

    async def live() -> set[str]:
        return {record.worker_id for record in await registry.list() if worker_is_live(record, own_id=own_id)}

    return live


def worker_is_live(record: WorkerRecord, *, own_id: str | None) -> bool:
    """Live by its heartbeat, and not an earlier process of this host (gone, or this pid under another id)."""
    if not record.live:
        return False
    if record.host != socket.gethostname() or record.worker_id == own_id:
        return True
    return record.pid != os.getpid() and _process_alive(record.pid)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class PoolPlacement:
    """Decides, when an execution starts on the server, which of its routes the server runs.

    Args:
        local_pools: Pools the server's local worker serves (empty with `--no-local-worker`).
        registry: The worker membership registry (which pools worker processes serve now).
        own_id: The server's own worker id (not an external worker).
    """

    def __init__(self, *, local_pools: frozenset[str], registry: WorkerRegistry, own_id: str) -> None:
        self._local_pools = local_pools
        self._registry = registry
        self._own_id = own_id

    async def __call__(self, snapshot: ConfigSnapshot) -> Placement:
        pools = {route_id: route_pool(route) for route_id, route in snapshot.config.routes.items()}
        local = frozenset(route_id for route_id, pool in pools.items() if pool in self._local_pools)
        if len(local) == len(pools):
            try:
                records = await self._registry.list()
            except (FactflowError, OSError) as exc:  # no registry reading: the execution stays local
                logger.warning("worker registry unavailable (%s); running the execution locally", exc)
                return Placement()
            # Another live worker process of one of its pools shares the execution; a record a
            # process of this host left behind (stopped, or an earlier boot) does not.
            needed = set(pools.values())
            own = self._own_id
            external = {
                record.worker_id
                for record in records
                if record.worker_id != own and needed & set(record.pools) and worker_is_live(record, own_id=own)
            }
            if not external:
                return Placement()
        return Placement(routes=local, shared=True)


@dataclass(frozen=True, slots=True)
class WorkerPools:
    """The server's side of worker pools: what the manager needs, and the registry (closed on exit)."""

    registry: WorkerRegistry
    shared_state: RedisSharedState
    placement: PoolPlacement
    local_pools: frozenset[str]
    own_id: str
    """The server's consumer name: its local worker's id."""


def wire_worker_pools(
    settings: FactflowSettings, queue: MemoryQueueProvider | RedisStreamsQueueProvider, stack: contextlib.AsyncExitStack
) -> WorkerPools | None:
    """Worker pools for a Redis queue (None for the one-process memory queue)."""
    if not isinstance(queue, RedisStreamsQueueProvider):
        if not settings.local_worker:
            logger.warning("FACTFLOW_LOCAL_WORKER=false is ignored: a memory queue runs every route in this process")
        return None
    assert settings.queue_url
    registry = create_worker_registry(settings.queue_url, ttl_seconds=settings.worker_ttl_seconds)
    stack.push_async_callback(registry.close)
    live = live_worker_ids(registry, own_id=queue.consumer_name)
    queue.set_live_consumers(live)
    local_pools = frozenset({DEFAULT_POOL}) if settings.local_worker else frozenset()
    if not local_pools:
        logger.info("no local worker: worker processes run every route")
    return WorkerPools(
        registry=registry,
        shared_state=RedisSharedState(queue, live_workers=live),
        placement=PoolPlacement(local_pools=local_pools, registry=registry, own_id=queue.consumer_name),
        local_pools=local_pools,
        own_id=queue.consumer_name,
    )
