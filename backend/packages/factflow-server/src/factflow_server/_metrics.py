"""Prometheus metrics of one app (docs/reference/http-api.md): one registry per app, exact names and labels.

Everything is produced by one custom collector at scrape time, so the exposition holds exactly
the contract's families (no `_created` series): HTTP metrics are counted here; engine, lineage
and storage numbers (adapter duration histograms included) are read from an
`EngineMetricsSource` snapshot.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

__all__ = (
    "PROMETHEUS_CONTENT_TYPE",
    "AdapterSample",
    "EngineMetricsSample",
    "EngineMetricsSource",
    "RouteSample",
    "ServerMetrics",
    "WorkerSample",
)

PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""Text format 0.0.4, as docs/reference/http-api.md requires."""
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_BREAKER_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


@dataclass(frozen=True, slots=True)
class RouteSample:
    """Counters and gauges of one route name, summed over its processors since server start."""

    route: str
    received: float = 0
    completed: float = 0
    dead_lettered: float = 0
    deduplicated: float = 0
    in_flight: float = 0
    paused: bool = False
    concurrency: float = 0


@dataclass(frozen=True, slots=True)
class AdapterSample:
    """Counters of one adapter of one route name."""

    route: str
    adapter: str
    failed: float = 0
    retried: float = 0
    breaker_state: str | None = None
    """`closed`, `half_open`, `open`, or None when the adapter has no breaker."""
    duration_buckets: Sequence[tuple[float, int]] = ()
    """Cumulative `(upper bound, count)` pairs ending with `(inf, total)`; empty when never invoked."""
    duration_sum: float = 0.0
    """Sum of the observed durations, seconds."""


@dataclass(frozen=True, slots=True)
class WorkerSample:
    """One listed worker's figures (from its last heartbeat)."""

    worker: str
    in_flight: float = 0
    handled: float = 0
    heartbeat_age_seconds: float = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineMetricsSample:
    """What the engine, lineage recorder and storage report at one scrape."""

    routes: Sequence[RouteSample] = ()
    adapters: Sequence[AdapterSample] = ()
    executions_running: float = 0
    executions_started: dict[str, int] = field(default_factory=dict)
    """Started executions per `source`."""
    lineage_dropped_total: float = 0
    lineage_buffer_size: float = 0
    storage_writes_ok: float = 0
    storage_writes_error: float = 0
    workers_live_by_pool: dict[str, int] = field(default_factory=dict)
    """Live workers per pool (0 for a pool running executions need, or whose listed workers are all dead)."""
    workers: Sequence[WorkerSample] = ()


EngineMetricsSource = Callable[[], EngineMetricsSample]
"""Returns the current engine numbers; called at every scrape."""


@dataclass(slots=True)
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(_DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(_DURATION_BUCKETS, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        cumulative = 0
        out: list[tuple[str, float]] = []
        for bound, count in zip(_DURATION_BUCKETS, self.counts, strict=False):
            cumulative += count
            out.append((_format_bound(bound), float(cumulative)))
        out.append(("+Inf", float(cumulative + self.counts[-1])))
        return out


def _format_bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class ServerMetrics(Collector):
    """The app's Prometheus registry and its single collector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._http_requests: dict[tuple[str, str, str], int] = {}
        self._http_durations: dict[tuple[str, str], _Histogram] = {}
        self._engine_source: EngineMetricsSource | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    # ------------------------------------------------------------------ recording
    def observe_request(self, method: str, path_template: str, status: int, seconds: float) -> None:
        """Count one finished HTTP request (the request middleware's observer)."""
        with self._lock:
            key = (method, path_template, str(status))
            self._http_requests[key] = self._http_requests.get(key, 0) + 1
            self._http_durations.setdefault((method, path_template), _Histogram()).observe(seconds)

    def attach_engine(self, source: EngineMetricsSource | None) -> None:
        """Read engine numbers from `source` at every scrape (None detaches)."""
        self._engine_source = source

    def render(self) -> bytes:
        """The Prometheus text exposition (format 0.0.4)."""
        return generate_latest(self.registry)

    # ------------------------------------------------------------------ collection
    def _engine_sample(self) -> EngineMetricsSample:
        source = self._engine_source
        if source is None:
            return EngineMetricsSample()
        try:
            return source()
        except Exception:  # a scrape must never fail because a component is stopping
            return EngineMetricsSample()

    def collect(self) -> Iterator[Metric]:
        sample = self._engine_sample()
        with self._lock:
            yield from self._route_families(sample)
            yield from self._adapter_families(sample)
            yield from self._execution_families(sample)
            yield from self._worker_families(sample)
            yield from self._http_families()

    def _route_families(self, sample: EngineMetricsSample) -> Iterator[Metric]:
        received = CounterMetricFamily("factflow_messages_received", "Messages received per route.", labels=["route"])
        completed = CounterMetricFamily(
            "factflow_messages_completed", "Messages fully handled per route.", labels=["route"]
        )
        dead = CounterMetricFamily(
            "factflow_messages_dead_lettered", "Messages dead-lettered per route.", labels=["route"]
        )
        deduplicated = CounterMetricFamily(
            "factflow_messages_deduplicated",
            "Repeated deliveries of an already handled message per route (absorbed after a fault).",
            labels=["route"],
        )
        in_flight = GaugeMetricFamily(
            "factflow_messages_in_flight", "Messages inside an adapter chain now.", labels=["route"]
        )
        paused = GaugeMetricFamily("factflow_route_paused", "1 when the route name is paused.", labels=["route"])
        concurrency = GaugeMetricFamily(
            "factflow_route_concurrency", "Current concurrency limit of the route.", labels=["route"]
        )
        for route in sample.routes:
            labels = [route.route]
            received.add_metric(labels, route.received)
            completed.add_metric(labels, route.completed)
            dead.add_metric(labels, route.dead_lettered)
            deduplicated.add_metric(labels, route.deduplicated)
            in_flight.add_metric(labels, route.in_flight)
            paused.add_metric(labels, 1.0 if route.paused else 0.0)
            concurrency.add_metric(labels, route.concurrency)
        yield from (received, completed, dead, deduplicated, in_flight, paused, concurrency)

    def _adapter_families(self, sample: EngineMetricsSample) -> Iterator[Metric]:
        failed = CounterMetricFamily(
            "factflow_messages_failed", "Failed adapter invocations.", labels=["route", "adapter"]
        )
        retried = CounterMetricFamily("factflow_messages_retried", "Adapter retries.", labels=["route", "adapter"])
        breaker = GaugeMetricFamily(
            "factflow_circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            labels=["route", "adapter"],
        )
        for adapter in sample.adapters:
            labels = [adapter.route, adapter.adapter]
            failed.add_metric(labels, adapter.failed)
            retried.add_metric(labels, adapter.retried)
            if adapter.breaker_state is not None:
                breaker.add_metric(labels, _BREAKER_VALUES.get(adapter.breaker_state, 0.0))
        durations = HistogramMetricFamily(
            "factflow_adapter_duration_seconds", "Adapter invocation duration.", labels=["route", "adapter"]
        )
        for adapter in sample.adapters:
            if adapter.duration_buckets:
                buckets = [(_format_bound(bound), float(count)) for bound, count in adapter.duration_buckets]
                durations.add_metric([adapter.route, adapter.adapter], buckets, adapter.duration_sum)
        yield from (failed, retried, breaker, durations)

    def _execution_families(self, sample: EngineMetricsSample) -> Iterator[Metric]:
        started = CounterMetricFamily(
            "factflow_executions_started", "Executions started per source.", labels=["source"]
        )
        for source, count in sorted(sample.executions_started.items()):
            started.add_metric([source], float(count))
        running = GaugeMetricFamily("factflow_executions_running", "Executions running now.")
        running.add_metric([], sample.executions_running)
        dropped = CounterMetricFamily("factflow_lineage_dropped", "Lineage events dropped.")
        dropped.add_metric([], sample.lineage_dropped_total)
        buffered = GaugeMetricFamily("factflow_lineage_buffer_size", "Lineage events waiting to be written.")
        buffered.add_metric([], sample.lineage_buffer_size)
        writes = CounterMetricFamily("factflow_storage_writes", "Stage storage writes.", labels=["result"])
        writes.add_metric(["ok"], sample.storage_writes_ok)
        writes.add_metric(["error"], sample.storage_writes_error)
        yield from (started, running, dropped, buffered, writes)

    def _worker_families(self, sample: EngineMetricsSample) -> Iterator[Metric]:
        live = GaugeMetricFamily(
            "factflow_workers_live", "Live (running or draining) workers per pool.", labels=["pool"]
        )
        for pool, count in sorted(sample.workers_live_by_pool.items()):
            live.add_metric([pool], float(count))
        in_flight = GaugeMetricFamily(
            "factflow_worker_in_flight", "Deliveries inside a worker's adapter chains.", labels=["worker"]
        )
        handled = CounterMetricFamily(
            "factflow_worker_handled", "Deliveries a worker settled since it started.", labels=["worker"]
        )
        age = GaugeMetricFamily(
            "factflow_worker_heartbeat_age_seconds", "Seconds since a worker's last heartbeat.", labels=["worker"]
        )
        for worker in sample.workers:
            in_flight.add_metric([worker.worker], worker.in_flight)
            handled.add_metric([worker.worker], worker.handled)
            age.add_metric([worker.worker], worker.heartbeat_age_seconds)
        yield from (live, in_flight, handled, age)

    def _http_families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "factflow_http_requests", "HTTP requests.", labels=["method", "path_template", "status"]
        )
        for (method, template, status), count in sorted(self._http_requests.items()):
            requests.add_metric([method, template, status], float(count))
        durations = HistogramMetricFamily(
            "factflow_http_request_duration_seconds", "HTTP request duration.", labels=["method", "path_template"]
        )
        for (method, template), histogram in sorted(self._http_durations.items()):
            durations.add_metric([method, template], histogram.buckets(), histogram.total)
        yield from (requests, durations)
