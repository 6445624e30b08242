from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from factflow_engine.testing import PipelineHarness
from factflow_execution.views import domain_metrics, route_metrics

PIPELINE = """
version: "1.0"
routes:
  split:
    inbound: {queue: q.split}
    adapters: [{type: split, config: {field: items}}]
    outbound: [{queue: q.work}]
  work:
    inbound: {queue: q.work, concurrency: 1, prefetch: 1}
    adapters: [{type: set_fields, config: {values: {ok: true}}}]
init_message: {route: split, payload: {items: [1, 2, 3]}}
"""


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[PipelineHarness]:
    async with PipelineHarness(workdir=tmp_path) as running:
        yield running


async def test_metrics_after_a_run(harness: PipelineHarness) -> None:
    result = await (await harness.start(PIPELINE)).wait(20)
    assert result.status == "completed"
    metrics = domain_metrics(harness.manager)
    assert metrics.executions.started_total == 1
    assert metrics.executions.completed_total == 1
    assert metrics.executions.running == 0
    assert metrics.messages.received_total == 4
    assert metrics.messages.completed_total == 4
    assert metrics.messages.in_flight == 0
    assert metrics.storage.writes_total == len(result.objects)
    assert metrics.as_dict()["executions"]["max_concurrent"] == 10
    work = metrics.route_counters["work"]
    assert work.durations["set_fields"].count == 3
    route = route_metrics(harness.manager, "work")
    assert route is not None
    assert (route.processors, route.messages.received, route.messages.completed) == (0, 3, 3)
    assert route.latency_ms.p50 is not None and route.latency_ms.max is not None
    assert route.throughput_per_second == pytest.approx(3 / 60)
    assert route.as_dict()["window_seconds"] == 60
    assert route_metrics(harness.manager, "nope") is None


async def test_a_paused_route_has_metrics_before_it_ran(harness: PipelineHarness) -> None:
    await harness.manager.pause_route("idle", "maintenance")
    route = route_metrics(harness.manager, "idle")
    assert route is not None and route.paused and route.processors == 0
    metrics = domain_metrics(harness.manager)
    assert metrics.routes == {"running": 0, "paused": 1}
    assert metrics.route_paused == {"idle": True}
