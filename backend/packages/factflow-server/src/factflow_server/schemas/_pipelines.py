"""Pipeline (route) schemas (docs/reference/http-api.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ._common import Timestamp
from ._executions import RouteStatus

__all__ = (
    "CircuitBreakerInfo",
    "PausedRoute",
    "PipelineControlRequest",
    "PipelineControlResponse",
    "PipelineListResponse",
    "RouteConcurrency",
    "RouteExecutionCounters",
    "RouteLatency",
    "RouteMessageCounters",
    "RouteMetrics",
    "RunningRoute",
)


class RunningRoute(RouteStatus):
    """A route of a running execution."""

    execution_id: str
    execution_tag: str | None
    config_id: str
    started_at: Timestamp


class PausedRoute(BaseModel):
    """A paused route name."""

    route_id: str
    paused_at: Timestamp | None
    reason: str | None


class PipelineListResponse(BaseModel):
    """P1 answer (not paged)."""

    total: int
    routes: list[RunningRoute]
    paused_routes: list[PausedRoute]


class RouteMessageCounters(BaseModel):
    """Counters since server start."""

    received: int
    completed: int
    failed: int
    dead_lettered: int
    retried: int
    in_flight: int


class RouteLatency(BaseModel):
    """Adapter-chain latency over the window; nulls when idle."""

    avg: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


class RouteConcurrency(BaseModel):
    """Concurrency limit and its target."""

    current: int
    max: int
    target_latency_ms: float | None


class CircuitBreakerInfo(BaseModel):
    """One breaker of the route."""

    adapter_name: str
    adapter_index: int
    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    opened_at: Timestamp | None


class RouteExecutionCounters(BaseModel):
    """One execution's share of the route."""

    execution_id: str
    received: int
    completed: int
    failed: int
    in_flight: int


class RouteMetrics(BaseModel):
    """P2 answer."""

    route_id: str
    paused: bool
    processors: int
    window_seconds: int
    messages: RouteMessageCounters
    throughput_per_second: float | None
    latency_ms: RouteLatency
    queue_depth: int | None
    concurrency: RouteConcurrency | None
    circuit_breakers: list[CircuitBreakerInfo]
    executions: list[RouteExecutionCounters]


class PipelineControlRequest(BaseModel):
    """P3 body."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"state": "paused", "reason": "Upstream maintenance."}]}
    )

    state: Literal["paused", "running"]
    reason: str | None = Field(default=None, max_length=500)


class PipelineControlResponse(BaseModel):
    """P3 answer."""

    success: bool
    route_id: str
    status: Literal["paused", "running"]
    previous_status: Literal["paused", "running"]
    affected_executions: list[str]
    message: str
