"""Worker schemas (docs/reference/http-api.md): `Worker` and the W1 list."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from factflow_infra.workers import WorkerRecord

from ._common import Timestamp

__all__ = ("Worker", "WorkerListResponse", "WorkerRouteRef")


class WorkerRouteRef(BaseModel):
    """A route of an execution that a worker runs."""

    model_config = ConfigDict(extra="forbid")

    execution_id: str
    route_id: str


class Worker(BaseModel):
    """One worker process: the server's local worker or a `factflow-server worker`."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """`<host>:<pid>:<boot>`, or `FACTFLOW_WORKER_ID` / `--id` when set."""
    worker_id: str
    """Always equal to `id`."""
    host: str
    pid: int
    pools: list[str]
    """Pools whose routes it runs."""
    version: str
    """factflow version of the process."""
    started_at: Timestamp
    last_heartbeat: Timestamp
    heartbeat_age_seconds: float
    """Seconds since `last_heartbeat` when this answer was made."""
    state: Literal["running", "draining", "dead"]
    """`dead`: no heartbeat for `FACTFLOW_WORKER_TTL_SECONDS` (listed for an hour, then dropped);
    `draining`: stopping, finishing what it holds."""
    routes: list[WorkerRouteRef]
    """Routes of running executions it runs (as of its last heartbeat)."""
    in_flight: int
    """Deliveries inside its adapter chains."""
    handled: int
    """Deliveries it settled since it started."""
    local: bool
    """This is the answering server's own local worker."""

    @classmethod
    def of(cls, record: WorkerRecord, *, now: float, local_worker_id: str | None) -> Worker:
        return cls(
            id=record.worker_id,
            worker_id=record.worker_id,
            host=record.host,
            pid=record.pid,
            pools=list(record.pools),
            version=record.version,
            started_at=record.started_at,
            last_heartbeat=record.last_heartbeat,
            heartbeat_age_seconds=round(max(0.0, now - record.last_heartbeat.timestamp()), 3),
            state=record.state,
            routes=[WorkerRouteRef(execution_id=r.execution_id, route_id=r.route_id) for r in record.routes],
            in_flight=record.in_flight,
            handled=record.handled,
            local=record.worker_id == local_worker_id,
        )


class WorkerListResponse(BaseModel):
    """W1 answer."""

    model_config = ConfigDict(extra="forbid")

    workers: list[Worker]
    """Running, draining and recently dead workers, sorted by `id`."""
