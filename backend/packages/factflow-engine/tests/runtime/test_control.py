"""Cancel, pause/resume, shutdown, start failures, capacity and a lineage database outage."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from factflow_engine.runtime import ExecutionStartError, RouteState, TooManyConcurrentExecutionsError
from factflow_engine.testing import PipelineHarness
from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext

SLOW = """
version: "1.0"
orchestrator: {cancel_grace_seconds: 0.2}
routes:
  split:
    inbound: {queue: q.split}
    adapters:
      - type: split
        config: {field: items}
    outbound: [{queue: q.slow}]
  slow:
    inbound: {queue: q.slow, concurrency: 3, prefetch: 3}
    adapters:
      - type: delay
        config: {ms: 30000}
      - type: passthrough
init_message: {route: split, payload: {items: [1, 2, 3, 4, 5, 6]}}
"""


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[PipelineHarness]:
    async with PipelineHarness(workdir=tmp_path) as running:
        yield running


def _runtime_tasks(execution_id: str) -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done()
        and execution_id in task.get_name()
        or task.get_name().startswith(("branch:", "route-control:", "queue-handler:", "seed:"))
        and not task.done()
    ]


async def test_cancel_mid_run(harness: PipelineHarness) -> None:
    execution = await harness.start(SLOW)
    processing = await harness.events.wait_count(
        "stage.processing", 3, lambda event: event["route_id"] == "slow", execution_id=execution.execution_id
    )
    assert harness.manager.cancel(execution.execution_id)
    assert not harness.manager.cancel(execution.execution_id)  # already cancelling
    result = await execution.wait(10)

    assert result.status == "cancelled"
    assert result.error_info is None
    cancelled = result.rows(route_id="slow", status="cancelled")
    assert {row["correlation_id"] for row in cancelled} == {event["correlation_id"] for event in processing}
    assert all(row["completed_at"] is not None for row in cancelled)
    assert result.rows(route_id="slow", status="processing") == []
    assert result.outputs("slow", "passthrough") == {}
    # Queues purged at once; nothing of the execution keeps running.
    assert await execution.orchestrator.total_depth() == 0
    assert _runtime_tasks(execution.execution_id) == []
    assert not harness.manager.is_live(execution.execution_id)
    assert harness.manager.slots_in_use == 0
    assert [event["processor_state"] for event in result.events_of("route.state") if event["route_id"] == "slow"][
        -1
    ] == "stopped"


async def test_shutdown_interrupts_and_cancels_rows(harness: PipelineHarness) -> None:
    execution = await harness.start(SLOW)
    reserved = harness.manager.reserve("0190a000-0000-7000-8000-0000000000fe")
    await harness.events.wait_count("stage.processing", 3, lambda event: event["route_id"] == "slow")
    await harness.manager.shutdown(0.05)
    with pytest.raises(ExecutionStartError):  # its slot was given back at shutdown
        await harness.manager.start(reserved, execution.orchestrator.snapshot, callbacks=harness.callbacks)
    status, _, counts = harness.callbacks.stopped[execution.execution_id]
    assert status == "interrupted"
    assert counts["in_flight"] == 6  # nothing acked: the six messages stay for recovery
    result = await execution.wait(5)
    assert len(result.rows(route_id="slow", status="cancelled")) == 3
    assert _runtime_tasks(execution.execution_id) == []
    with pytest.raises(ExecutionStartError):
        harness.manager.reserve("0190a000-0000-7000-8000-0000000000ff")


async def test_shutdown_drains_running_deliveries_within_the_grace(harness: PipelineHarness) -> None:
    execution = await harness.start(SLOW.replace("ms: 30000", "ms: 300"))
    await harness.events.wait_count("stage.processing", 3, lambda event: event["route_id"] == "slow")
    await harness.manager.shutdown(10)
    status, _, counts = harness.callbacks.stopped[execution.execution_id]
    assert status == "interrupted"
    # The three running deliveries finished their whole chain and were acked; three wait unread.
    assert (counts["handled"], counts["in_flight"]) == (4, 3)
    result = await execution.wait(5)
    assert len(result.rows(route_id="slow", adapter_index=0, status="completed")) == 3
    assert len(result.outputs("slow", "passthrough")) == 3
    assert result.rows(status="cancelled") == []


PAUSE = """
version: "1.0"
routes:
  produce:
    inbound: {queue: q.produce}
    adapters:
      - type: split
        config: {field: items}
    outbound: [{queue: q.consume}]
  consume:
    inbound: {queue: q.consume, concurrency: 4, prefetch: 8}
    adapters:
      - type: set_fields
        config: {values: {consumed: true}}
init_message: {route: produce, payload: {items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}}
"""


async def test_pause_holds_messages_and_resume_drains_them(harness: PipelineHarness) -> None:
    affected = await harness.manager.pause_route("consume", "maintenance")
    assert affected == []
    assert set(harness.manager.paused_routes()) == {"consume"}
    execution = await harness.start(PAUSE)
    execution_id = execution.execution_id
    await harness.events.wait_count("stage.completed", 1, lambda event: event["route_id"] == "produce")
    await harness.events.wait_for(
        "execution.progress", lambda data: data["published"] == 11 and data["handled"] == 1, timeout=10
    )

    # Everything the producer published waits in the paused route's queue; the execution runs on.
    counts = harness.manager.message_counts(execution_id)
    assert counts is not None
    assert (counts.published, counts.handled, counts.in_flight) == (11, 1, 10)
    depth = await harness.queue.depth(execution.orchestrator.scoped_queue.scoped("q.consume"), "consume")
    assert depth.total == 10
    assert [
        event for event in harness.events.of("stage.processing", execution_id) if event["route_id"] == "consume"
    ] == []
    statuses = {status.route_id: status for status in harness.manager.route_statuses(execution_id)}
    assert statuses["consume"].processor_state is RouteState.PAUSED
    assert statuses["consume"].paused
    assert statuses["produce"].processor_state is RouteState.RUNNING
    assert harness.manager.is_live(execution_id)
    assert harness.manager.known_route_ids() >= {"produce", "consume"}

    assert await harness.manager.resume_route("consume") == [execution_id]
    result = await execution.wait(20)
    assert result.status == "completed"
    assert len(result.outputs("consume", "set_fields")) == 10
    states = [
        (event["processor_state"], event["paused"])
        for event in result.events_of("route.state")
        if event["route_id"] == "consume"
    ]
    assert states[:2] == [("paused", True), ("running", False)]
    assert harness.manager.paused_routes() == {}


async def test_pause_mid_run_reports_affected_executions(harness: PipelineHarness) -> None:
    execution = await harness.start(SLOW)
    await harness.events.wait_count("stage.processing", 1, lambda event: event["route_id"] == "slow")
    assert await harness.manager.pause_route("slow", None) == [execution.execution_id]
    await harness.events.wait_for("route.state", lambda event: event["route_id"] == "slow" and event["paused"])
    status = next(item for item in harness.manager.route_statuses(execution.execution_id) if item.route_id == "slow")
    assert status.paused and status.processor_state is RouteState.PAUSED
    [(live_id, processor)] = harness.manager.live_processors("slow")
    assert live_id == execution.execution_id and processor.state is RouteState.PAUSED
    assert "slow" in harness.manager.paused_routes()
    assert harness.manager.cancel(execution.execution_id)
    assert (await execution.wait(10)).status == "cancelled"


class BrokenStart(PipelineAdapter):
    adapter_type = "broken_start"

    async def start(self) -> None:
        raise RuntimeError("cannot connect")

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return AdapterResult(message=context.message)


class Stoppable(PipelineAdapter):
    adapter_type = "stoppable"
    stopped = 0

    async def stop(self) -> None:
        type(self).stopped += 1

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return AdapterResult(message=context.message)


BROKEN = """
version: "1.0"
routes:
  a:
    inbound: {queue: q.a}
    adapters: [{type: stoppable}]
  b:
    inbound: {queue: q.b}
    adapters: [{type: stoppable}, {type: broken_start}]
init_message: {route: a, payload: {}}
"""


async def test_start_failure_reports_start_failed_and_frees_the_slot(tmp_path: Path) -> None:
    async with PipelineHarness(
        workdir=tmp_path, adapters={"broken_start": BrokenStart, "stoppable": Stoppable}
    ) as harness:
        with pytest.raises(ExecutionStartError) as caught:
            await harness.start(BROKEN, execution_id="0190a000-0000-7000-8000-000000000abc")
        assert caught.value.code == "orchestrator_unavailable"
        status, error_info, counts = harness.callbacks.stopped["0190a000-0000-7000-8000-000000000abc"]
        assert status == "failed"
        assert error_info is not None and error_info.code == "start_failed"
        assert "cannot connect" in error_info.message
        assert counts["published"] == 0
        assert Stoppable.stopped == 2  # every adapter that started was stopped
        assert harness.manager.slots_in_use == 0


async def test_capacity_and_reservations(tmp_path: Path) -> None:
    async with PipelineHarness(workdir=tmp_path, max_concurrent_executions=1) as harness:
        reservation = harness.manager.reserve("0190a000-0000-7000-8000-000000000001")
        with pytest.raises(TooManyConcurrentExecutionsError) as caught:
            harness.manager.reserve("0190a000-0000-7000-8000-000000000002")
        assert caught.value.code == "too_many_concurrent_executions"
        waiting = asyncio.create_task(harness.manager.reserve_when_free("0190a000-0000-7000-8000-000000000003"))
        await asyncio.sleep(0)
        assert not waiting.done()
        reservation.release()
        async with asyncio.timeout(1):
            backlog = await waiting
        assert backlog.execution_id == "0190a000-0000-7000-8000-000000000003"
        with pytest.raises(TooManyConcurrentExecutionsError):
            harness.manager.reserve("0190a000-0000-7000-8000-000000000004")
        backlog.release()
        execution = await harness.start(PAUSE)
        assert (await execution.wait(20)).status == "completed"
        assert harness.manager.slots_in_use == 0


CYCLE = """
version: "1.0"
orchestrator: {max_hops: 3}
error_handling: {tolerated_failures: 1}
routes:
  loop:
    inbound: {queue: q.loop}
    adapters:
      - type: split
        config: {field: items}
      - type: set_fields
        config: {values: {items: [1]}}
    outbound: [{queue: q.loop}]
init_message: {route: loop, payload: {items: [1]}}
"""


async def test_cycles_end_at_max_hops(harness: PipelineHarness) -> None:
    # Each hop fans out to a new id (a message re-sent under its own id is deduplicated instead).
    result = await (await harness.start(CYCLE)).wait(20)
    assert result.status == "completed"
    (entry,) = result.dead_letters["dlq.loop"]
    assert (entry.control.dead_letter or {})["reason"] == "max_hops_exceeded"
    assert entry.control.hop_count == 4
    assert len(result.lineage) == 8  # hops 0..3 ran both adapters
    assert result.message_counts == {
        "published": 5,
        "handled": 5,
        "in_flight": 0,
        "dead_lettered": 1,
        "tolerated_failures": 1,
    }


SAME_ID_CYCLE = """
version: "1.0"
routes:
  loop:
    inbound: {queue: q.loop}
    adapters: [{type: passthrough}]
    outbound: [{queue: q.loop}]
init_message: {route: loop, payload: {x: 1}}
"""


async def test_republishing_the_same_id_is_deduplicated(harness: PipelineHarness) -> None:
    result = await (await harness.start(SAME_ID_CYCLE)).wait(20)
    assert result.status == "completed"
    assert result.message_counts["published"] == 1
    assert len(result.lineage) == 1


LINEAGE_OUTAGE = """
version: "1.0"
routes:
  split:
    inbound: {queue: q.split}
    adapters:
      - type: split
        config: {field: items}
    outbound: [{queue: q.work}]
  work:
    inbound: {queue: q.work, concurrency: 8, prefetch: 16}
    adapters: [{type: passthrough}, {type: set_fields, config: {values: {done: true}}}]
init_message: {route: split, payload: {}}
"""


def _rename_table(database: Path, old: str, new: str) -> None:
    with sqlite3.connect(database, timeout=10) as connection:
        connection.execute(f"ALTER TABLE {old} RENAME TO {new}")


async def test_pipeline_completes_while_the_lineage_database_is_down(tmp_path: Path) -> None:
    async with PipelineHarness(workdir=tmp_path, lineage_buffer_size=50) as harness:
        recorder = harness.recorder
        assert recorder is not None
        await harness.manager.pause_route("work")
        execution = await harness.start(LINEAGE_OUTAGE, init_payload={"items": list(range(100))})
        await harness.events.wait_for(
            "execution.progress", lambda data: data["published"] == 101 and data["handled"] == 1
        )
        assert await recorder.flush(execution.execution_id, timeout=5)

        # The database "stops": every write fails from now on.
        await asyncio.to_thread(_rename_table, tmp_path / "factflow.db", "pipeline_lineage", "pipeline_lineage_down")
        await harness.manager.resume_route("work")
        status, _, counts = await asyncio.wait_for(harness.callbacks.wait(execution.execution_id), 20)
        assert status == "completed"
        assert counts["handled"] == 101
        assert recorder.dropped_for(execution.execution_id) > 0

        await asyncio.to_thread(_rename_table, tmp_path / "factflow.db", "pipeline_lineage_down", "pipeline_lineage")
        result = await execution.wait(5)
        assert result.status == "completed"
        assert len(result.outputs("work", "set_fields")) == 100
        assert result.lineage_dropped > 0
        assert 1 <= len(result.lineage) < 201  # the split row, plus whatever was not dropped


async def test_settling_waits_for_the_deliveries_running_then_and_not_for_later_ones(harness: PipelineHarness) -> None:
    execution = await harness.start(SLOW.replace("ms: 30000", "ms: 300"))
    running = await harness.events.wait_count(
        "stage.processing", 3, lambda event: event["route_id"] == "slow", execution_id=execution.execution_id
    )
    await execution.orchestrator.settle_deliveries()
    # The three deliveries that ran when asked went through their whole chain (lineage and outputs
    # are written before a delivery leaves the handler); the three read afterwards may still run.
    completed = {
        event["correlation_id"]
        for event in harness.events.of("stage.completed", execution.execution_id)
        if event["route_id"] == "slow" and event["stage_name"] == "passthrough"
    }
    assert {event["correlation_id"] for event in running} <= completed
    result = await execution.wait(10)
    assert result.status == "completed"
