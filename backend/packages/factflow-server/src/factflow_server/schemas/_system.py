"""System schemas: health (Y1) and the metrics snapshot (Y2)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from factflow_protocols import JSONObject

from ._common import Timestamp

__all__ = (
    "ComponentHealth",
    "DatabaseDebug",
    "ExecutionCounters",
    "HealthDebug",
    "HealthResponse",
    "LineageCounters",
    "LineageDebug",
    "MessageCounters",
    "MetricsSnapshot",
    "QueueDebug",
    "RouteCounters",
    "StorageCounters",
    "StorageDebug",
    "WorkerFigures",
    "WorkerMetrics",
    "AdaptersDebug",
    "OrchestratorDebug",
)

HealthStatus = Literal["healthy", "degraded", "unhealthy"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentHealth(_Model):
    """One component's probe result."""

    name: str
    """`database`, `queue`, `storage`, `orchestrator`, `lineage` or `workers`."""
    status: HealthStatus
    """Probe verdict."""
    message: str | None
    """Why it is not healthy, or a short note."""
    latency_ms: float
    """Probe duration."""
    checked_at: Timestamp
    """When the probe ran."""


class QueueDebug(_Model):
    """Queue provider state."""

    provider: str
    connected: bool
    health_state: Literal["healthy", "degraded", "stalled", "reconnecting"]
    last_message_age_seconds: float | None
    reconnect_attempts: int | None
    active_subscriptions: int | None
    pending_total: int | None


class OrchestratorDebug(_Model):
    """What the manager runs."""

    running_executions: list[str]
    running_routes: list[str]
    paused_routes: list[str]


class LineageDebug(_Model):
    """Lineage writer state."""

    buffered: int
    dropped_total: int
    flush_failures_total: int
    last_flush_at: Timestamp | None


class StorageDebug(_Model):
    """Storage provider state."""

    provider: str
    writable: bool


class DatabaseDebug(_Model):
    """Database pool state."""

    dialect: str
    pool_size: int | None
    checked_out: int | None


class AdaptersDebug(_Model):
    """Discovered adapter types."""

    count: int
    types: list[str]


class HealthDebug(_Model):
    """Internals shown with `debug=true` to an authorized caller (credentials masked)."""

    settings: JSONObject
    queue: QueueDebug | None
    orchestrator: OrchestratorDebug | None
    lineage: LineageDebug | None
    storage: StorageDebug | None
    database: DatabaseDebug | None
    adapters: AdaptersDebug | None


class HealthResponse(_Model):
    """Y1 answer: 200 when healthy or degraded, 503 when unhealthy."""

    status: HealthStatus
    """Worst component status; an unhealthy `lineage` only degrades the whole."""
    version: str
    """Server version."""
    timestamp: Timestamp
    """When the answer was built."""
    uptime_seconds: float
    """Seconds since the server started."""
    components: list[ComponentHealth]
    """`database`, `queue`, `storage`, `orchestrator`, `lineage`, `workers` (`degraded` naming the
    pool when a route of a running execution waits for a worker)."""
    debug: HealthDebug | None
    """Only with `debug=true` for an authorized caller."""


class ExecutionCounters(_Model):
    """Execution counters since process start."""

    running: int
    max_concurrent: int
    started_total: int
    completed_total: int
    failed_total: int
    cancelled_total: int
    interrupted_total: int


class MessageCounters(_Model):
    """Message counters since process start."""

    received_total: int
    completed_total: int
    failed_total: int
    dead_lettered_total: int
    retried_total: int
    in_flight: int


class RouteCounters(_Model):
    """Route processors now."""

    running: int
    paused: int


class LineageCounters(_Model):
    """Lineage writer counters."""

    buffered: int
    written_total: int
    dropped_total: int


class StorageCounters(_Model):
    """Stage storage counters."""

    writes_total: int
    write_failures_total: int


class WorkerMetrics(_Model):
    """One listed worker's figures."""

    id: str
    pools: list[str]
    state: Literal["running", "draining", "dead"]
    in_flight: int
    handled: int
    heartbeat_age_seconds: float


class WorkerFigures(_Model):
    """Worker membership: live workers per pool and each worker's figures."""

    live: int
    """Running or draining workers."""
    dead: int
    """Workers listed as dead (kept for an hour)."""
    live_by_pool: dict[str, int]
    """Pool → its live workers; 0 for a pool that running executions need or whose workers are all dead."""
    workers: list[WorkerMetrics]
    """Every listed worker, by `id`."""


class MetricsSnapshot(_Model):
    """Y2 answer: the orchestrator's counters."""

    timestamp: Timestamp
    uptime_seconds: float
    executions: ExecutionCounters
    messages: MessageCounters
    routes: RouteCounters
    lineage: LineageCounters
    storage: StorageCounters
    workers: WorkerFigures | None
    """Null when the worker registry cannot be read."""
