"""What a worker tells the membership registry, and the registry protocol both back ends implement."""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from ..queue._common import consumer_name, new_boot_id

__all__ = (
    "DEFAULT_DEAD_RETENTION_SECONDS",
    "DEFAULT_WORKER_TTL_SECONDS",
    "HEARTBEAT_INTERVAL_SECONDS",
    "WorkerRecord",
    "WorkerRegistry",
    "WorkerRoute",
    "WorkerState",
    "default_worker_id",
    "validate_worker_id",
    "worker_state",
)

DEFAULT_WORKER_TTL_SECONDS = 10.0
"""Heartbeat age at which a worker counts as dead (`FACTFLOW_WORKER_TTL_SECONDS`)."""
HEARTBEAT_INTERVAL_SECONDS = 2.0
"""How often a worker renews its heartbeat; well inside the TTL so one slow renewal is not a death."""
DEFAULT_DEAD_RETENTION_SECONDS = 3600.0
"""How long a dead worker stays listed (state `dead`) before it is pruned: long enough for an
operator to see what died and when."""

WorkerState = Literal["running", "draining", "dead"]

_WORKER_ID = re.compile(r"[A-Za-z0-9._:@-]{1,200}")


@dataclass(frozen=True, slots=True)
class WorkerRoute:
    """One route of one execution that a worker runs."""

    execution_id: str
    route_id: str


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A worker as the registry last saw it.

    `last_heartbeat` and `started_at` come from one clock (Redis's own in the Redis registry), so
    ages compare across hosts whose clocks disagree.
    """

    worker_id: str
    host: str
    pid: int
    pools: tuple[str, ...]
    version: str
    started_at: datetime
    last_heartbeat: datetime
    state: WorkerState
    routes: tuple[WorkerRoute, ...]
    in_flight: int
    handled: int

    @property
    def live(self) -> bool:
        """Not dead: running or draining."""
        return self.state != "dead"


class WorkerRegistry(Protocol):
    """Membership of the worker processes: who runs, which pools, what they are doing.

    A worker registers once, heartbeats every `HEARTBEAT_INTERVAL_SECONDS` and deregisters on a
    graceful stop. It is `dead` once its last heartbeat is older than the registry's TTL; dead
    records stay listed for a retention period, then disappear. A deregistered worker disappears
    at once.
    """

    async def register(self, *, worker_id: str, host: str, pid: int, pools: Sequence[str], version: str) -> None:
        """Add (or replace) `worker_id`, state `running`, heartbeat now, no routes."""
        ...

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
        """Renew `worker_id`'s heartbeat and replace what it reports.

        A worker pruned meanwhile (dead past the retention) is registered again from what this
        registry instance registered. `metrics` (opaque text: the worker's route figures) replaces
        the worker's last one and expires with the TTL; None leaves it as it is.

        Raises:
            KeyError: this registry instance never registered `worker_id`.
        """
        ...

    async def deregister(self, worker_id: str) -> None:
        """Remove `worker_id`; idempotent."""
        ...

    async def list(self) -> list[WorkerRecord]:
        """Every running, draining and recently dead worker, ordered by id."""
        ...

    async def get(self, worker_id: str) -> WorkerRecord | None:
        """One worker, or None when unknown (never registered, deregistered or pruned)."""
        ...

    async def metrics(self, worker_ids: Sequence[str]) -> dict[str, str]:
        """The latest `metrics` text of each of `worker_ids` that has one not older than the TTL."""
        ...

    async def live_workers_by_pool(self) -> dict[str, builtins.list[str]]:
        """Pool name → ids of its non-dead workers (sorted); pools without a live worker are absent."""
        ...

    async def close(self) -> None:
        """Release what the registry holds (a Redis client it made); idempotent. Does not deregister."""
        ...


def worker_state(*, age_seconds: float, ttl_seconds: float, draining: bool) -> WorkerState:
    """The state of a worker whose last heartbeat is `age_seconds` old."""
    if age_seconds >= ttl_seconds:
        return "dead"
    return "draining" if draining else "running"


def validate_worker_id(worker_id: str) -> str:
    """`worker_id` if it is 1–200 characters of letters, digits and `. _ : @ -`.

    Raises:
        ValueError: it is not.
    """
    if not _WORKER_ID.fullmatch(worker_id):
        raise ValueError(f"Invalid worker id {worker_id!r}: use 1-200 characters of letters, digits and `. _ : @ -`.")
    return worker_id


def default_worker_id(configured: str | None = None) -> str:
    """The id of this process as a worker: `configured` (`FACTFLOW_WORKER_ID`) when set, else `<host>:<pid>:<boot>`.

    `<boot>` is random per call, so a restarted process is a new worker and its predecessor shows
    up as dead; a configured id must be unique among live processes.

    Raises:
        ValueError: `configured` is not a valid worker id.
    """
    if configured:
        return validate_worker_id(configured)
    return consumer_name(new_boot_id())
