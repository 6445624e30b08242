"""Counters the server turns into `GET /system/metrics`, `GET /pipelines/{route}/metrics` and Prometheus.

The engine imports no metrics library: it keeps plain counters, windows and histogram buckets,
and the server reads them.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from factflow_foundation import rfc3339_or_none

__all__ = (
    "DEFAULT_DURATION_BUCKETS",
    "METRICS_WINDOW_SECONDS",
    "AdapterDurationHistogram",
    "CircuitBreakerSummary",
    "DomainMetrics",
    "ExecutionCounters",
    "LatencySummary",
    "MessageTotals",
    "MetricsRegistry",
    "RouteConcurrency",
    "RouteCounters",
    "RouteExecutionMetrics",
    "RouteMessageMetrics",
    "RouteMetrics",
    "StorageTotals",
)

METRICS_WINDOW_SECONDS = 60
"""Window of throughput and latency values."""

DEFAULT_DURATION_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
"""Upper bounds (seconds) of the adapter-duration histogram; +Inf is implied."""

_WINDOW_MAX_SAMPLES = 200_000


class AdapterDurationHistogram:
    """Cumulative histogram of adapter invocation durations (seconds), Prometheus style."""

    def __init__(self, buckets: tuple[float, ...] = DEFAULT_DURATION_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        """Non-cumulative counts per bucket; the last is +Inf."""
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.sum += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """`(upper bound, cumulative count)` pairs, ending with `(inf, count)`."""
        total = 0
        pairs: list[tuple[float, int]] = []
        for bound, count in zip((*self.buckets, math.inf), self.counts, strict=True):
            total += count
            pairs.append((bound, total))
        return pairs


class RouteCounters:
    """Process-wide counters of one route name, across executions, since start."""

    def __init__(self, route_id: str) -> None:
        self.route_id = route_id
        self.received = 0
        """Deliveries the route started handling."""
        self.completed = 0
        """Deliveries acknowledged with no branch dead-lettered."""
        self.failed = 0
        """Deliveries with at least one branch dead-lettered."""
        self.dead_lettered = 0
        """Branches (messages) sent to the DLQ."""
        self.retried = 0
        """Adapter retries."""
        self.deduplicated = 0
        """Settled deliveries of a message the route had handled already (a redelivery or a
        re-published copy after a fault): absorbed, not counted as handled."""
        self.failed_by_adapter: Counter[str] = Counter()
        """Dead-lettered branches per failing adapter type."""
        self.retried_by_adapter: Counter[str] = Counter()
        """Retries per adapter type."""
        self.durations: dict[str, AdapterDurationHistogram] = {}
        """Adapter invocation durations per adapter type."""
        self._window: deque[tuple[float, float]] = deque(maxlen=_WINDOW_MAX_SAMPLES)

    def observe_duration(self, adapter_name: str, seconds: float) -> None:
        histogram = self.durations.get(adapter_name)
        if histogram is None:
            histogram = self.durations[adapter_name] = AdapterDurationHistogram()
        histogram.observe(seconds)

    def observe_delivery(self, latency_ms: float, *, now: float | None = None) -> None:
        """A delivery finished after `latency_ms` in the adapter chain."""
        self._window.append((time.monotonic() if now is None else now, latency_ms))

    def window(self, *, now: float | None = None) -> list[float]:
        """Latencies (ms) of deliveries finished in the last 60 s."""
        cutoff = (time.monotonic() if now is None else now) - METRICS_WINDOW_SECONDS
        while self._window and self._window[0][0] < cutoff:
            self._window.popleft()
        return [latency for _, latency in self._window]


def _percentile(ordered: list[float], fraction: float) -> float:
    rank = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[rank]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Adapter-chain latency over the window (ms); all `None` when idle."""

    avg: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, values: list[float]) -> LatencySummary:
        if not values:
            return cls()
        ordered = sorted(values)
        return cls(
            avg=sum(ordered) / len(ordered),
            p50=_percentile(ordered, 0.5),
            p95=_percentile(ordered, 0.95),
            p99=_percentile(ordered, 0.99),
            max=ordered[-1],
        )


@dataclass(frozen=True, slots=True)
class RouteMessageMetrics:
    """`RouteMetrics.messages`."""

    received: int
    completed: int
    failed: int
    dead_lettered: int
    retried: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class RouteConcurrency:
    """`RouteMetrics.concurrency` (summed over the route's processors)."""

    current: int
    max: int
    target_latency_ms: float | None


@dataclass(frozen=True, slots=True)
class CircuitBreakerSummary:
    """One entry of `RouteMetrics.circuit_breakers`."""

    adapter_name: str
    adapter_index: int
    state: str
    consecutive_failures: int
    opened_at: datetime | None


@dataclass(frozen=True, slots=True)
class RouteExecutionMetrics:
    """One entry of `RouteMetrics.executions`."""

    execution_id: str
    received: int
    completed: int
    failed: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class RouteMetrics:
    """One route name across running executions (`get_route_metrics` `RouteMetrics`).

    Message counters run since server start; throughput and latency cover the last 60 s.
    """

    route_id: str
    paused: bool
    processors: int
    window_seconds: int
    messages: RouteMessageMetrics
    throughput_per_second: float
    latency_ms: LatencySummary
    queue_depth: int
    concurrency: RouteConcurrency
    circuit_breakers: list[CircuitBreakerSummary]
    executions: list[RouteExecutionMetrics]

    def as_dict(self) -> dict[str, Any]:
        """The docs/reference/http-api.md JSON object (timestamps as RFC 3339)."""
        data = asdict(self)
        for breaker in data["circuit_breakers"]:
            breaker["opened_at"] = rfc3339_or_none(breaker["opened_at"])
        return data


@dataclass(frozen=True, slots=True)
class ExecutionCounters:
    """`DomainMetrics.executions`."""

    running: int
    max_concurrent: int
    started_total: int
    completed_total: int
    failed_total: int
    cancelled_total: int
    interrupted_total: int


@dataclass(frozen=True, slots=True)
class MessageTotals:
    """`DomainMetrics.messages`."""

    received_total: int
    completed_total: int
    failed_total: int
    dead_lettered_total: int
    retried_total: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class StorageTotals:
    """`DomainMetrics.storage`."""

    writes_total: int
    write_failures_total: int


@dataclass(frozen=True, slots=True)
class DomainMetrics:
    """Orchestrator snapshot for `GET /system/metrics` and Prometheus.

    `lineage` counters live in the lineage recorder; the server adds them.
    """

    timestamp: datetime
    uptime_seconds: float
    executions: ExecutionCounters
    messages: MessageTotals
    routes: dict[str, int]
    """`{running, paused}`: running processors and paused route names."""
    storage: StorageTotals
    route_counters: dict[str, RouteCounters] = field(default_factory=dict)
    """Per route name (Prometheus `{route}` / `{route,adapter}` series); live objects, read only."""
    route_in_flight: dict[str, int] = field(default_factory=dict)
    """Deliveries inside the adapter chain per route name."""
    route_concurrency: dict[str, int] = field(default_factory=dict)
    """Current concurrency limit per route name (summed over processors)."""
    route_paused: dict[str, bool] = field(default_factory=dict)
    """Pause flag per known route name."""
    circuit_breakers: list[tuple[str, CircuitBreakerSummary]] = field(default_factory=list)
    """`(route_id, breaker)` for every live adapter breaker."""
    executions_started_by_source: dict[str, int] = field(default_factory=dict)
    """Starts per execution source (`api`, `cli`, `replay`, ...)."""

    def as_dict(self) -> dict[str, Any]:
        """The docs/reference/http-api-endpoints.md `MetricsSnapshot` fields the engine knows (no `lineage`)."""
        return {
            "timestamp": rfc3339_or_none(self.timestamp),
            "uptime_seconds": self.uptime_seconds,
            "executions": asdict(self.executions),
            "messages": asdict(self.messages),
            "routes": dict(self.routes),
            "storage": asdict(self.storage),
        }


class MetricsRegistry:
    """Process-wide counters owned by the `OrchestratorManager`."""

    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.routes: dict[str, RouteCounters] = {}
        self.executions_started_total = 0
        self.executions_finished: Counter[str] = Counter()
        self.executions_started_by_source: Counter[str] = Counter()

    def route(self, route_id: str) -> RouteCounters:
        counters = self.routes.get(route_id)
        if counters is None:
            counters = self.routes[route_id] = RouteCounters(route_id)
        return counters

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_at
