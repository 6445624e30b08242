from __future__ import annotations

from datetime import UTC, datetime

import pytest

from factflow_engine.runtime import (
    DIGEST_POINTS,
    CircuitBreakerSummary,
    LatencyDigest,
    LatencySummary,
    RouteExecutionSnapshot,
    RouteSnapshot,
    decode_route_snapshots,
    encode_route_snapshots,
    merge_route_snapshots,
)

EXEC = "0190a000-0000-7000-8000-000000000001"
OTHER = "0190a000-0000-7000-8000-000000000002"
OPENED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _breaker(state: str, failures: int, opened_at: datetime | None = None) -> CircuitBreakerSummary:
    return CircuitBreakerSummary(
        adapter_name="fail", adapter_index=0, state=state, consecutive_failures=failures, opened_at=opened_at
    )


def _worker(latencies: list[float], *, breaker: CircuitBreakerSummary, depth: int | None) -> RouteSnapshot:
    return RouteSnapshot(
        route_id="work",
        received=len(latencies) + 1,
        completed=len(latencies),
        failed=1,
        dead_lettered=1,
        retried=2,
        latency=LatencyDigest.of(latencies),
        processors=1,
        in_flight=1,
        concurrency_current=2,
        concurrency_max=4,
        target_latency_ms=500.0,
        breakers=((EXEC, breaker),),
        executions=(RouteExecutionSnapshot(EXEC, len(latencies) + 1, len(latencies), 1, 1, depth),),
    )


def test_one_process_alone_gives_its_exact_figures() -> None:
    values = [float(value) for value in range(1, 1001)]
    merged = merge_route_snapshots(
        "work", [_worker(values, breaker=_breaker("closed", 0), depth=3)], paused=False
    ).latency_ms
    assert merged.avg == pytest.approx(sum(values) / len(values))
    assert merged.max == 1000
    # Reduced to quantile points, the percentiles stay within one point's share of the rank.
    exact = LatencySummary.of(values)
    for name in ("p50", "p95", "p99"):
        assert abs(getattr(merged, name) - getattr(exact, name)) <= len(values) / DIGEST_POINTS
    whole = merge_route_snapshots(
        "work",
        [RouteSnapshot(route_id="work", latency=LatencyDigest.of(values, max_points=None))],
        paused=False,
    )
    assert whole.latency_ms == exact


def test_processes_merge_counters_windows_executions_and_breakers() -> None:
    fast = _worker([10.0] * 90, breaker=_breaker("closed", 1), depth=5)
    slow = _worker([1000.0] * 10, breaker=_breaker("open", 5, OPENED), depth=7)
    other = RouteSnapshot(
        route_id="work",
        received=4,
        completed=4,
        processors=1,
        executions=(RouteExecutionSnapshot(OTHER, 4, 4, 0, 0, 2),),
        breakers=((OTHER, _breaker("closed", 0)),),
    )
    metrics = merge_route_snapshots("work", [fast, slow, other], paused=True)
    assert metrics.paused
    assert metrics.processors == 3
    assert (metrics.messages.received, metrics.messages.completed, metrics.messages.failed) == (106, 104, 2)
    assert (metrics.messages.dead_lettered, metrics.messages.retried, metrics.messages.in_flight) == (2, 4, 2)
    assert metrics.throughput_per_second == pytest.approx(100 / 60)
    assert metrics.latency_ms == LatencySummary(avg=109.0, p50=10.0, p95=1000.0, p99=1000.0, max=1000.0)
    # Every process reads the same stream of an execution: its deepest reading, summed over executions.
    assert metrics.queue_depth == 7 + 2
    assert (metrics.concurrency.current, metrics.concurrency.max, metrics.concurrency.target_latency_ms) == (
        4,
        8,
        500.0,
    )
    # One entry per execution and adapter: the most severe state any process holds.
    assert [(b.state, b.consecutive_failures, b.opened_at) for b in metrics.circuit_breakers] == [
        ("open", 5, OPENED),
        ("closed", 0, None),
    ]
    assert [(e.execution_id, e.received, e.completed, e.failed, e.in_flight) for e in metrics.executions] == [
        (EXEC, 102, 100, 2, 2),
        (OTHER, 4, 4, 0, 0),
    ]


def test_idle_processes_have_null_latency() -> None:
    metrics = merge_route_snapshots("work", [RouteSnapshot(route_id="work")], paused=False)
    assert metrics.latency_ms == LatencySummary()
    assert metrics.throughput_per_second == 0


def test_snapshots_travel_as_text() -> None:
    snapshot = _worker([1.5, 2.25], breaker=_breaker("open", 3, OPENED), depth=None)
    assert decode_route_snapshots(encode_route_snapshots([snapshot])) == [snapshot]
    with pytest.raises(ValueError, match="Unreadable route snapshot"):
        decode_route_snapshots('[{"route_id": "work"}]')
