"""One process's figures of a route name, compact enough to travel with a worker's heartbeat, and their merge.

When route processors run in several processes (workers), no process sees every delivery of a
route. Each process sums up its own figures of every route it runs or ran (`RouteSnapshot`), the
worker processes publish theirs with their heartbeat, and the server answering
`GET /pipelines/{route_id}/metrics` merges the live processes' snapshots with its own
(`merge_route_snapshots`, docs/guides/scaling.md):

- counters, in-flight, processors and concurrency are summed;
- per-execution figures are summed per execution; a queue depth is the deepest any process saw of
  that execution's queue (they all read the same stream), summed over executions;
- breakers of one execution's adapter are one entry: the most severe state any process holds;
- latency: each process reduces its 60 s window to at most `DIGEST_POINTS` evenly spaced quantile
  points (`LatencyDigest`); percentiles are read from the weighted union of the points, so they are
  exact while every process finished at most that many deliveries in the window and within one
  point's share of the rank otherwise. `avg` and `max` are always exact.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._metrics import (
    METRICS_WINDOW_SECONDS,
    CircuitBreakerSummary,
    LatencySummary,
    RouteConcurrency,
    RouteExecutionMetrics,
    RouteMessageMetrics,
    RouteMetrics,
)

__all__ = (
    "DIGEST_POINTS",
    "LatencyDigest",
    "RouteExecutionSnapshot",
    "RouteSnapshot",
    "decode_route_snapshots",
    "encode_route_snapshots",
    "merge_route_snapshots",
)

DIGEST_POINTS = 256
"""Quantile points a process's latency window is reduced to before it travels."""

_BREAKER_SEVERITY = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True, slots=True)
class LatencyDigest:
    """A latency window (ms): `count`, `total`, `max`, and quantile `points` each standing for `count / len(points)`."""

    count: int = 0
    total: float = 0.0
    max: float | None = None
    points: tuple[float, ...] = ()

    @classmethod
    def of(cls, values: Iterable[float], *, max_points: int | None = DIGEST_POINTS) -> LatencyDigest:
        """The digest of `values`; every value kept when `max_points` is None or not exceeded."""
        ordered = sorted(values)
        if not ordered:
            return cls()
        count = len(ordered)
        if max_points is None or count <= max_points:
            points = tuple(ordered)
        else:
            # The midpoint rank of each of `max_points` equal shares of the ordered window.
            points = tuple(ordered[min(count - 1, int((k + 0.5) * count / max_points))] for k in range(max_points))
        return cls(count=count, total=math.fsum(ordered), max=ordered[-1], points=points)


def _merged_latency(digests: Sequence[LatencyDigest]) -> LatencySummary:
    weighted = sorted(
        (point, digest.count / len(digest.points)) for digest in digests if digest.points for point in digest.points
    )
    count = sum(digest.count for digest in digests)
    if not weighted or count == 0:
        return LatencySummary()

    def percentile(fraction: float) -> float:
        # The smallest value whose cumulative weight reaches `fraction` of the total (nearest rank).
        target = fraction * sum(weight for _, weight in weighted)
        cumulative = 0.0
        for value, weight in weighted:
            cumulative += weight
            if cumulative >= target - 1e-9:
                return value
        return weighted[-1][0]

    return LatencySummary(
        avg=math.fsum(digest.total for digest in digests) / count,
        p50=percentile(0.5),
        p95=percentile(0.95),
        p99=percentile(0.99),
        max=max(digest.max for digest in digests if digest.max is not None),
    )


@dataclass(frozen=True, slots=True)
class RouteExecutionSnapshot:
    """One execution's figures of the route in one process."""

    execution_id: str
    received: int
    completed: int
    failed: int
    in_flight: int
    queue_depth: int | None


@dataclass(frozen=True, slots=True)
class RouteSnapshot:
    """One process's figures of one route name: counters since its start, its window, its live processors."""

    route_id: str
    received: int = 0
    completed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    retried: int = 0
    latency: LatencyDigest = LatencyDigest()
    processors: int = 0
    in_flight: int = 0
    concurrency_current: int = 0
    concurrency_max: int = 0
    target_latency_ms: float | None = None
    breakers: tuple[tuple[str, CircuitBreakerSummary], ...] = ()
    """`(execution_id, breaker)` of every adapter of the live processors."""
    executions: tuple[RouteExecutionSnapshot, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "route_id": self.route_id,
            "counters": [self.received, self.completed, self.failed, self.dead_lettered, self.retried],
            "latency": {
                "count": self.latency.count,
                "total": self.latency.total,
                # Microsecond precision is plenty, and `max` stays the largest point.
                "max": None if self.latency.max is None else round(self.latency.max, 3),
                "points": [round(point, 3) for point in self.latency.points],
            },
            "processors": self.processors,
            "in_flight": self.in_flight,
            "concurrency": [self.concurrency_current, self.concurrency_max, self.target_latency_ms],
            "breakers": [
                [
                    execution_id,
                    breaker.adapter_name,
                    breaker.adapter_index,
                    breaker.state,
                    breaker.consecutive_failures,
                    breaker.opened_at.isoformat() if breaker.opened_at is not None else None,
                ]
                for execution_id, breaker in self.breakers
            ],
            "executions": [
                [item.execution_id, item.received, item.completed, item.failed, item.in_flight, item.queue_depth]
                for item in self.executions
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RouteSnapshot:
        """The snapshot `as_dict` wrote.

        Raises:
            KeyError, TypeError, ValueError: `data` is not such a snapshot.
        """
        received, completed, failed, dead_lettered, retried = (int(value) for value in data["counters"])
        latency = data["latency"]
        current, maximum, target = data["concurrency"]
        return cls(
            route_id=str(data["route_id"]),
            received=received,
            completed=completed,
            failed=failed,
            dead_lettered=dead_lettered,
            retried=retried,
            latency=LatencyDigest(
                count=int(latency["count"]),
                total=float(latency["total"]),
                max=None if latency["max"] is None else float(latency["max"]),
                points=tuple(float(point) for point in latency["points"]),
            ),
            processors=int(data["processors"]),
            in_flight=int(data["in_flight"]),
            concurrency_current=int(current),
            concurrency_max=int(maximum),
            target_latency_ms=None if target is None else float(target),
            breakers=tuple(
                (
                    str(execution_id),
                    CircuitBreakerSummary(
                        adapter_name=str(name),
                        adapter_index=int(index),
                        state=str(state),
                        consecutive_failures=int(failures),
                        opened_at=None if opened is None else datetime.fromisoformat(opened),
                    ),
                )
                for execution_id, name, index, state, failures, opened in data["breakers"]
            ),
            executions=tuple(
                RouteExecutionSnapshot(
                    execution_id=str(execution_id),
                    received=int(received_),
                    completed=int(completed_),
                    failed=int(failed_),
                    in_flight=int(in_flight),
                    queue_depth=None if depth is None else int(depth),
                )
                for execution_id, received_, completed_, failed_, in_flight, depth in data["executions"]
            ),
        )


def encode_route_snapshots(snapshots: Iterable[RouteSnapshot]) -> str:
    """The JSON text a worker publishes with its heartbeat."""
    return json.dumps([snapshot.as_dict() for snapshot in snapshots], separators=(",", ":"))


def decode_route_snapshots(text: str) -> list[RouteSnapshot]:
    """The snapshots of `encode_route_snapshots` text.

    Raises:
        ValueError: `text` is not such a document.
    """
    try:
        return [RouteSnapshot.from_dict(item) for item in json.loads(text)]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"Unreadable route snapshot: {exc}") from exc


def merge_route_snapshots(route_id: str, snapshots: Sequence[RouteSnapshot], *, paused: bool) -> RouteMetrics:
    """`RouteMetrics` of `route_id` over every process's snapshot of it (see the module docstring)."""
    executions: dict[str, list[RouteExecutionSnapshot]] = {}
    breakers: dict[tuple[str, int, str], CircuitBreakerSummary] = {}
    for snapshot in snapshots:
        for item in snapshot.executions:
            executions.setdefault(item.execution_id, []).append(item)
        for execution_id, breaker in snapshot.breakers:
            key = (execution_id, breaker.adapter_index, breaker.adapter_name)
            known = breakers.get(key)
            if known is None or _severity(breaker) > _severity(known):
                breakers[key] = breaker
    depths = [[item.queue_depth for item in items if item.queue_depth is not None] for items in executions.values()]
    targets = [snapshot.target_latency_ms for snapshot in snapshots if snapshot.target_latency_ms is not None]
    latency = [snapshot.latency for snapshot in snapshots]
    return RouteMetrics(
        route_id=route_id,
        paused=paused,
        processors=sum(snapshot.processors for snapshot in snapshots),
        window_seconds=METRICS_WINDOW_SECONDS,
        messages=RouteMessageMetrics(
            received=sum(snapshot.received for snapshot in snapshots),
            completed=sum(snapshot.completed for snapshot in snapshots),
            failed=sum(snapshot.failed for snapshot in snapshots),
            dead_lettered=sum(snapshot.dead_lettered for snapshot in snapshots),
            retried=sum(snapshot.retried for snapshot in snapshots),
            in_flight=sum(snapshot.in_flight for snapshot in snapshots),
        ),
        throughput_per_second=sum(digest.count for digest in latency) / METRICS_WINDOW_SECONDS,
        latency_ms=_merged_latency(latency),
        queue_depth=sum(max(values) for values in depths if values),
        concurrency=RouteConcurrency(
            current=sum(snapshot.concurrency_current for snapshot in snapshots),
            max=sum(snapshot.concurrency_max for snapshot in snapshots),
            target_latency_ms=targets[0] if targets else None,
        ),
        circuit_breakers=list(breakers.values()),
        executions=[
            RouteExecutionMetrics(
                execution_id=execution_id,
                received=sum(item.received for item in items),
                completed=sum(item.completed for item in items),
                failed=sum(item.failed for item in items),
                in_flight=sum(item.in_flight for item in items),
            )
            for execution_id, items in executions.items()
        ],
    )


def _severity(breaker: CircuitBreakerSummary) -> tuple[int, int]:
    return _BREAKER_SEVERITY.get(breaker.state, 0), breaker.consecutive_failures
