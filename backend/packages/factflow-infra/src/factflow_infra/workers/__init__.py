"""Worker membership: who runs route processors, in which pools, doing what (docs/guides/scaling.md)."""

from __future__ import annotations

from ._events import EventReceiver, RedisEventChannel
from ._factory import create_worker_registry
from ._memory import MemoryWorkerRegistry
from ._model import (
    DEFAULT_DEAD_RETENTION_SECONDS,
    DEFAULT_WORKER_TTL_SECONDS,
    HEARTBEAT_INTERVAL_SECONDS,
    WorkerRecord,
    WorkerRegistry,
    WorkerRoute,
    WorkerState,
    default_worker_id,
    validate_worker_id,
)
from ._redis import RedisWorkerRegistry
from ._relay import RedisRequestRelay, RelayHandler, RelayUnansweredError

__all__ = (
    # model
    "WorkerRecord",
    "WorkerRoute",
    "WorkerState",
    "WorkerRegistry",
    # registries
    "create_worker_registry",
    "MemoryWorkerRegistry",
    "RedisWorkerRegistry",
    # standby servers' requests to the leader, and the leader's live events for them
    "RedisRequestRelay",
    "RedisEventChannel",
    "EventReceiver",
    "RelayHandler",
    "RelayUnansweredError",
    # ids and timing
    "default_worker_id",
    "validate_worker_id",
    "DEFAULT_WORKER_TTL_SECONDS",
    "DEFAULT_DEAD_RETENTION_SECONDS",
    "HEARTBEAT_INTERVAL_SECONDS",
)
