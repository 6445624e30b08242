"""ExecutionService end to end: a real OrchestratorManager on the memory queue, filesystem storage and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from factflow_engine.config import PipelineConfigLoader
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import EngineLimits, EngineWiring, OrchestratorManager, TooManyConcurrentExecutionsError
from factflow_engine.testing import TEST_OPTIONS
from factflow_execution import (
    ConfigSourceType,
    ConfigValidationError,
    ExecutionEventHub,
    ExecutionEventStreamer,
    ExecutionService,
    ExecutionServices,
    ExecutionStatusCallbackAdapter,
    ExecutionStores,
    ExecutionWaiter,
    InvalidStatusTransitionError,
    PipelineConfigService,
    PipelineExecution,
    PipelineExecutionRepository,
    RoutePauseRepository,
    RouteWorkers,
    StoredSnapshot,
    TagConflictError,
)
from factflow_execution._calculator import StatsCalculator
from factflow_execution._stats import route_counts_to_json
from factflow_foundation import ServiceUnavailableError, new_id
from factflow_infra.database import create_database_engine, create_session_factory, run_migrations
from factflow_infra.queue import MemoryQueueProvider
from factflow_infra.storage import FilesystemStorageProvider
from factflow_lineage import LineageRecorder, LineageRepository
from factflow_protocols import LineageRecord, StageStatus

TWO_ROUTES = """\
version: "1.0"
name: two-routes
routes:
  first:
    name: First route
    inbound: {queue: /queue/in}
    adapters:
      - type: echo
      - type: upper
        stage: shout
    outbound:
      - queue: mid
  second:
    inbound: {queue: mid}
    adapters:
      - type: echo
init_message:
  route: first
  payload: {text: hi, nested: {keep: 1, change: 1}, items: [1, 2]}
"""

GATED = """\
version: "1.0"
name: gated
orchestrator: {cancel_grace_seconds: 0}
routes:
  wait:
    inbound: {queue: in}
    adapters:
      - type: gate
init_message:
  route: wait
  payload: {}
"""


class HeldLineageRecorder(LineageRecorder):
    """A recorder whose database writes wait while `writes_open` is clear (a slow database)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes_open = asyncio.Event()
        self.writes_open.set()

    async def _execute(self, records: list[LineageRecord]) -> None:
        await self.writes_open.wait()
        await super()._execute(records)


@dataclass
class World:
    service: ExecutionService
    configs: PipelineConfigService
    executions: PipelineExecutionRepository
    manager: OrchestratorManager
    hub: ExecutionEventHub
    lineage: LineageRepository
    pauses: RoutePauseRepository
    recorder: HeldLineageRecorder

    async def config(self, text: str) -> str:
        return (await self.configs.create(text)).config_id

    async def wait(self, execution_id: str) -> PipelineExecution:
        result = await ExecutionWaiter(execution_id, service=self.service, hub=self.hub).wait(20.0)
        assert result.completed, result.message
        return await self.service.get(execution_id)


@pytest.fixture
async def world(tmp_path: Path, registry: ValidatingAdapterRegistry) -> AsyncIterator[World]:
    engine = create_database_engine(f"sqlite+aiosqlite:///{tmp_path / 'factflow.db'}")
    await run_migrations(engine)
    sessions = create_session_factory(engine)
    queue = MemoryQueueProvider(redelivery_delay_seconds=0.2)
    await queue.connect()
    storage = FilesystemStorageProvider(tmp_path / "storage")
    await storage.start()
    recorder = HeldLineageRecorder(engine, flush_interval_ms=20)
    await recorder.start()
    stores = ExecutionStores.open(sessions)
    services = ExecutionServices.build(
        engine=EngineWiring(
            queue=queue,
            storage=storage,
            adapters=registry,
            limits=EngineLimits(max_concurrent_executions=2, shutdown_grace_seconds=1.0, options=TEST_OPTIONS),
        ),
        stores=stores,
        loader=PipelineConfigLoader(registry),
        recorder=recorder,
    )
    manager, hub = services.manager, services.hub
    service, configs = services.service, services.config_service
    executions, lineage, pauses = stores.executions, stores.lineage, stores.pauses
    try:
        yield World(service, configs, executions, manager, hub, lineage, pauses, recorder)
    finally:
        hub.begin_shutdown()
        await manager.shutdown(0)
        await hub.shutdown()
        await recorder.shutdown(timeout=5.0)
        await queue.close()
        await storage.shutdown()
        await engine.dispose()


async def test_create_runs_to_completed_with_frozen_counts_and_stats(world: World) -> None:
    config_id = await world.config(TWO_ROUTES)
    overrides = {"text": "yo", "nested": {"change": 2, "added": True}, "items": [9]}
    execution = await world.service.create(
        config_id, source="cli", tag="run-1", metadata={"who": "test"}, init_payload_overrides=overrides
    )
    assert execution.status == "running" and execution.source is ConfigSourceType.CLI
    assert execution.init_payload == {"text": "yo", "nested": {"keep": 1, "change": 2, "added": True}, "items": [9]}
    assert execution.root_correlation_id is not None
    snapshot = execution.config_snapshot.model_dump()
    assert set(snapshot) == {
        "config_yaml",
        "config",
        "config_hash",
        "config_version",
        "config_name",
        "captured_at",
        "engine_version",
    }
    assert snapshot["config_yaml"] == TWO_ROUTES and snapshot["config_version"] == 1
    assert snapshot["config"]["orchestrator"]["max_hops"] == 64  # defaults filled in

    done = await world.wait(execution.execution_id)
    assert done.status == "completed" and done.error_info is None
    assert done.completed_at is not None and done.duration_ms is not None and done.duration_ms >= 0
    assert done.message_counts == {
        "published": 2,
        "handled": 2,
        "in_flight": 0,
        "dead_lettered": 0,
        "tolerated_failures": 0,
    }
    assert done.stats is not None
    assert done.stats["stage_counts"]["completed"] == 3 and done.stats["stage_counts"]["total"] == 3
    assert done.stats["success_rate"] == 1.0
    assert [(a["route_id"], a["stage_name"], a["completed"]) for a in done.stats["adapters"]] == [
        ("first", "echo", 1),
        ("first", "shout", 1),
        ("second", "echo", 1),
    ]

    stats = await world.service.stats("run-1")
    assert stats.model_dump(mode="json") == done.stats

    detail = await world.service.detail(execution.execution_id)
    assert detail["metadata"] == {"who": "test"} and detail["tag"] == "run-1"
    assert detail["message_counts"]["published"] == 2
    assert [(r["route_id"], r["processor_state"], r["total_messages"], r["completed"]) for r in detail["routes"]] == [
        ("first", "stopped", 1, 1),
        ("second", "stopped", 1, 1),
    ]
    first_route = detail["routes"][0]
    assert first_route["name"] == "First route" and first_route["inbound_queue"] == "in"
    assert first_route["scoped_queue"] == f"factflow:{{{execution.execution_id}}}:in"
    assert first_route["outbound_queues"] == ["mid"] and first_route["concurrency"] is None
    assert detail["completed_at"].endswith("Z")

    page = await world.service.lineage(execution.execution_id, limit=2)
    assert page.total == 3 and len(page.entries) == 2 and page.has_more
    statuses = [
        e.data["status"]
        for e in world.hub.buffered(execution.execution_id, kind="execution")
        if e.event == "execution.status"
    ]
    assert statuses == ["running", "completed"]


async def test_dag_comes_from_the_snapshot_not_the_live_config(world: World) -> None:
    config_id = await world.config(TWO_ROUTES)
    execution = await world.service.create(config_id)
    await world.wait(execution.execution_id)
    await world.configs.update(config_id, TWO_ROUTES.replace("second:", "renamed:"))
    dag = (await world.service.dag(execution.execution_id)).model_dump(mode="json")
    assert [node["route_id"] for node in dag["nodes"]] == ["first", "second"]
    assert dag["edges"] == [{"from_route": "first", "to_route": "second", "queue": "mid", "condition": None}]
    assert dag["init_route"] == "first" and dag["init_queue"] == "in"


async def test_skip_init_completes_at_once_with_zero_messages(world: World) -> None:
    config_id = await world.config(TWO_ROUTES)
    execution = await world.service.create(config_id, skip_init=True)
    assert execution.root_correlation_id is None
    done = await world.wait(execution.execution_id)
    assert done.status == "completed"
    assert done.message_counts is not None and done.message_counts["published"] == 0


async def test_run_gate_refuses_invalid_config_and_creates_nothing(world: World) -> None:
    config_id = await world.config(TWO_ROUTES.replace("type: upper", "type: nope"))
    with pytest.raises(ConfigValidationError) as info:
        await world.service.create(config_id)
    assert info.value.code == "config_invalid" and "E103" in info.value.report.codes()
    assert (await world.service.list()).total == 0
    assert world.manager.slots_in_use == 0


async def test_tag_conflict_creates_nothing_and_frees_the_slot(world: World) -> None:
    config_id = await world.config(TWO_ROUTES)
    first = await world.service.create(config_id, tag="nightly")
    with pytest.raises(TagConflictError) as info:
        await world.service.create(config_id, tag="nightly")
    assert info.value.code == "tag_conflict"
    await world.wait(first.execution_id)
    assert (await world.service.list()).total == 1
    assert world.manager.slots_in_use == 0


async def test_cancel_live_execution_then_transition_rules(world: World, gate: asyncio.Event) -> None:
    # A long grace keeps the execution stopping until the gate opens, so the repeated cancel
    # below deterministically meets a live, cancelling execution.
    config_id = await world.config(GATED.replace("cancel_grace_seconds: 0", "cancel_grace_seconds: 60"))
    execution = await world.service.create(config_id, tag="to-cancel")
    execution_id = execution.execution_id
    await _processing(world, execution_id)

    with pytest.raises(InvalidStatusTransitionError) as info:
        await world.service.update_status(execution_id, "completed")
    assert info.value.code == "invalid_status_transition"

    streamer = ExecutionEventStreamer(world.hub, world.service)
    events = streamer.stream(execution_id, timeout=20, include_messages=False)
    assert (await anext(events)).event == "execution.snapshot"

    result = await world.service.cancel("to-cancel", reason="test")
    assert result.accepted and result.to_api() == {
        "success": True,
        "execution_id": execution_id,
        "previous_status": "running",
        "current_status": "cancelling",
        "message": result.message,
    }
    repeated = await world.service.cancel(execution_id)
    assert repeated.accepted and repeated.current_status == "cancelling"
    gate.set()
    done = await world.wait(execution_id)
    assert done.status == "cancelled" and done.cancel_requested
    assert done.message_counts is not None and done.stats is not None
    rest = [e async for e in events]
    status_events = [e.data["status"] for e in rest if e.event == "execution.status"]
    assert status_events == ["cancelling", "cancelled"]
    assert rest[-1].event == "stream.end" and rest[-1].data["reason"] == "terminal"

    again = await world.service.cancel(execution_id)
    assert not again.accepted and again.current_status == "cancelled" and again.previous_status == "cancelled"
    with pytest.raises(InvalidStatusTransitionError):
        await world.service.update_status(execution_id, "failed")
    assert world.manager.slots_in_use == 0


async def test_live_routes_counts_and_pause_flags(world: World, gate: asyncio.Event) -> None:
    config_id = await world.config(GATED)
    execution = await world.service.create(config_id)
    execution_id = execution.execution_id
    await _processing(world, execution_id)

    routes = await world.service.routes(execution_id)
    assert [(r.route_id, r.processor_state, r.in_flight, r.paused) for r in routes] == [("wait", "running", 1, False)]
    assert routes[0].concurrency is not None
    assert routes[0].concurrency.model_dump() == {"current": 1, "max": 1}
    detail = await world.service.detail(execution_id)
    assert detail["status"] == "running" and detail["completed_at"] is None
    assert detail["message_counts"]["published"] == 1 and detail["message_counts"]["in_flight"] == 1
    live_stats = await world.service.stats(execution_id)
    assert live_stats.status == "running" and live_stats.message_counts.in_flight == 1

    await world.manager.pause_route("wait", reason="maintenance")
    assert [r.paused for r in await world.service.routes(execution_id)] == [True]
    snapshot = await world.service.event_snapshot(await world.service.get(execution_id))
    assert snapshot["routes"] == [{"route_id": "wait", "processor_state": "paused", "paused": True, "in_flight": 1}]
    assert snapshot["message_counts"]["published"] == 1
    assert snapshot["execution"]["id"] == execution_id
    assert set(snapshot["stage_counts"]) == {
        "total",
        "pending",
        "processing",
        "completed",
        "failed",
        "skipped",
        "cancelled",
    }
    await world.manager.resume_route("wait")
    gate.set()
    assert (await world.wait(execution_id)).status == "completed"
    stopped = await world.service.routes(execution_id)
    assert [(r.processor_state, r.concurrency, r.queue_depth, r.paused) for r in stopped] == [
        ("stopped", None, None, False)
    ]


async def test_concurrency_cap_refuses_without_a_row(world: World, gate: asyncio.Event) -> None:
    config_id = await world.config(GATED)
    first = await world.service.create(config_id)
    second = await world.service.create(config_id)
    with pytest.raises(TooManyConcurrentExecutionsError):
        await world.service.create(config_id)
    assert (await world.service.list()).total == 2
    gate.set()
    assert (await world.wait(first.execution_id)).status == "completed"
    assert (await world.wait(second.execution_id)).status == "completed"


async def test_stale_running_and_interrupted_rows_are_updated_at_once(world: World) -> None:
    config_id = await world.config(TWO_ROUTES)
    live = await world.service.create(config_id)
    await world.wait(live.execution_id)
    snapshot = (await world.service.get(live.execution_id)).config_snapshot

    def row(status: str) -> PipelineExecution:
        return PipelineExecution(
            execution_id=new_id(),
            config_id=config_id,
            config_name="two-routes",
            config_version=1,
            status=status,  # type: ignore[arg-type]
            source=ConfigSourceType.API,
            started_at=datetime.now(UTC),
            stored_snapshot=StoredSnapshot(snapshot),
        )

    stale = await world.executions.insert(row("running"))
    result = await world.service.update_status(stale.execution_id, "failed", reason="host died", error_info={"x": 1})
    assert not result.accepted and (result.previous_status, result.current_status) == ("running", "failed")
    stored = await world.service.get(stale.execution_id)
    assert stored.status == "failed"
    assert stored.error_info == {"code": "admin_update", "message": "host died", "details": {"x": 1}}
    assert stored.completed_at is not None and stored.stats is not None

    interrupted = await world.executions.insert(row("interrupted"))
    cancelled = await world.service.cancel(interrupted.execution_id)
    assert (cancelled.previous_status, cancelled.current_status, cancelled.accepted) == (
        "interrupted",
        "cancelled",
        False,
    )
    stored = await world.service.get(interrupted.execution_id)
    assert stored.status == "cancelled" and stored.error_info is None and stored.cancel_requested

    interrupted_too = await world.executions.insert(row("interrupted"))
    await world.service.update_status(interrupted_too.execution_id, "completed")
    assert (await world.service.get(interrupted_too.execution_id)).error_info is not None

    with pytest.raises(InvalidStatusTransitionError):
        await world.service.update_status(live.execution_id, "cancelled")
    with pytest.raises(InvalidStatusTransitionError):
        await world.service.update_status(live.execution_id, "running")


async def test_replays_and_list_filters(world: World) -> None:
    config_id = await world.config(TWO_ROUTES)
    parent = await world.service.create(config_id, tag="parent")
    await world.wait(parent.execution_id)
    child = await world.executions.insert(
        PipelineExecution(
            execution_id=new_id(),
            config_id=config_id,
            config_name="two-routes",
            config_version=1,
            status="completed",
            source=ConfigSourceType.REPLAY,
            started_at=datetime.now(UTC),
            stored_snapshot=parent.stored_snapshot,
            parent_execution_id=parent.execution_id,
            replay_source="storage",
        )
    )
    assert [e.execution_id for e in (await world.service.replays("parent")).items] == [child.execution_id]
    assert [e.execution_id for e in (await world.service.list(parent_execution_id="parent")).items] == [
        child.execution_id
    ]
    assert [e.execution_id for e in (await world.service.list(source="replay")).items] == [child.execution_id]


async def test_start_failure_leaves_the_row_failed_with_start_failed(world: World) -> None:
    config_id = await world.config(TWO_ROUTES.replace("type: upper", "type: broken_start"))
    with pytest.raises(ServiceUnavailableError) as info:
        await world.service.create(config_id, tag="broken")
    assert info.value.code in ("orchestrator_unavailable", "queue_unavailable")
    execution_id = info.value.context["execution_id"]
    stored = await world.service.get("broken")
    assert stored.execution_id == execution_id
    assert stored.status == "failed"
    assert stored.error_info is not None and stored.error_info["code"] == "start_failed"
    assert world.manager.slots_in_use == 0


async def test_dead_letters_beyond_tolerance_fail_the_execution(world: World) -> None:
    config_id = await world.config(TWO_ROUTES.replace("type: upper", "type: boom"))
    execution = await world.service.create(config_id)
    done = await world.wait(execution.execution_id)
    assert done.status == "failed"
    assert done.error_info is not None and done.error_info["code"] == "dead_letter_threshold_exceeded"
    assert done.message_counts is not None and done.message_counts["dead_lettered"] == 1
    assert done.stats is not None and done.stats["stage_counts"]["failed"] == 1
    assert done.stats["success_rate"] == 0.5


async def _processing(world: World, execution_id: str) -> None:
    """Wait (on hub events, no polling) until the execution's first adapter is running."""
    with world.hub.subscribe([execution_id]) as subscription:
        if any(e.event == "stage.processing" for e in world.hub.buffered(execution_id, kind="execution")):
            return
        async with asyncio.timeout(10):
            while True:
                await subscription.wait(None)
                if any(e.event == "stage.processing" for e in subscription.drain()):
                    return


async def test_stopped_execution_reads_frozen_route_counts_not_lineage(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_id = await world.config(TWO_ROUTES)
    execution = await world.service.create(config_id)
    done = await world.wait(execution.execution_id)
    aggregated = await world.lineage.route_message_counts(execution.execution_id)
    assert done.route_counts == route_counts_to_json(aggregated)
    assert done.route_counts["first"]["total_messages"] == 1 and done.route_counts["second"]["completed"] == 1
    detail = await world.service.detail(execution.execution_id)
    snapshot = await world.service.event_snapshot(done)
    assert snapshot["stage_counts"] == (await world.lineage.stage_counts(execution.execution_id)).to_api_dict()

    async def no_aggregates(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a stopped execution must not aggregate its lineage")

    monkeypatch.setattr(world.lineage, "route_message_counts", no_aggregates)
    monkeypatch.setattr(world.lineage, "stage_counts", no_aggregates)
    assert await world.service.detail(execution.execution_id) == detail
    assert [route.model_dump(mode="json") for route in await world.service.routes(execution.execution_id)] == detail[
        "routes"
    ]
    assert await world.service.event_snapshot(done) == snapshot


async def test_final_execution_without_frozen_route_counts_gets_them_once(world: World) -> None:
    config_id = await world.config(TWO_ROUTES)
    execution = await world.service.create(config_id)
    await world.wait(execution.execution_id)
    # As a row stopped before route counts were frozen (revision 0004) looks.
    await world.executions.update_fields(execution.execution_id, {"route_counts": None})
    before = await world.service.detail(execution.execution_id)
    stored = await world.service.get(execution.execution_id)
    assert stored.route_counts == route_counts_to_json(await world.lineage.route_message_counts(stored.execution_id))
    assert await world.service.detail(execution.execution_id) == before


async def test_stats_freeze_only_once_the_lineage_is_written(world: World) -> None:
    """An execution that stops while its lineage is still being written keeps exact final stats."""
    config_id = await world.config(TWO_ROUTES)
    earlier = await world.service.create(config_id)
    await world.wait(earlier.execution_id)
    execution = await world.executions.insert(
        PipelineExecution(
            execution_id=new_id(),
            config_id=config_id,
            config_name="two-routes",
            config_version=1,
            status="running",
            source=ConfigSourceType.API,
            started_at=datetime.now(UTC),
            stored_snapshot=(await world.service.get(earlier.execution_id)).stored_snapshot,
        )
    )
    world.recorder.writes_open.clear()
    for route_id in ("first", "second"):
        world.recorder.record(
            LineageRecord(
                id=new_id(),
                correlation_id=new_id(),
                parent_correlation_id=None,
                execution_id=execution.execution_id,
                route_id=route_id,
                adapter_name="echo",
                adapter_index=0,
                stage_name="echo",
                stage_status=StageStatus.COMPLETED,
                started_at=datetime.now(UTC),
                completed_at=datetime.now(UTC),
            )
        )
    callbacks = ExecutionStatusCallbackAdapter(
        executions=world.executions,
        hub=world.hub,
        stats=StatsCalculator(world.lineage),
        recorder=world.recorder,
        flush_timeout=0.05,
    )
    await callbacks.on_stopped(execution.execution_id, "completed", None, {"published": 2, "handled": 2})

    stopped = await world.service.get(execution.execution_id)
    assert stopped.status == "completed" and stopped.stats is None and stopped.route_counts is None
    # Reads while the rows are still buffered show what is written so far and freeze nothing.
    assert (await world.service.stats(execution.execution_id)).stage_counts.completed == 0
    await world.service.routes(execution.execution_id)
    unfrozen = await world.service.get(execution.execution_id)
    assert unfrozen.stats is None and unfrozen.route_counts is None

    world.recorder.writes_open.set()
    assert await world.recorder.flush(execution.execution_id, timeout=5.0)
    assert (await world.service.stats(execution.execution_id)).stage_counts.completed == 2
    routes = await world.service.routes(execution.execution_id)
    assert [(route.route_id, route.completed) for route in routes] == [("first", 1), ("second", 1)]
    frozen = await world.service.get(execution.execution_id)
    assert frozen.stats is not None and frozen.stats["stage_counts"]["completed"] == 2
    assert frozen.route_counts is not None and frozen.route_counts["second"]["completed"] == 1


async def test_admin_status_change_freezes_route_counts(world: World) -> None:
    config_id = await world.config(TWO_ROUTES)
    live = await world.service.create(config_id)
    await world.wait(live.execution_id)
    interrupted = await world.executions.insert(
        PipelineExecution(
            execution_id=new_id(),
            config_id=config_id,
            config_name="two-routes",
            config_version=1,
            status="interrupted",
            source=ConfigSourceType.API,
            started_at=datetime.now(UTC),
            stored_snapshot=(await world.service.get(live.execution_id)).stored_snapshot,
        )
    )
    await world.service.cancel(interrupted.execution_id)
    assert (await world.service.get(interrupted.execution_id)).route_counts == {}


class FixedRouteWorkers:
    """A `RouteWorkerLookup` answering what the test set (the server's is tested against a live server)."""

    def __init__(self, answer: RouteWorkers | None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def route_workers(self, execution_id: str) -> RouteWorkers | None:
        self.asked.append(execution_id)
        return self.answer


GPU_ROUTE = GATED.replace("inbound: {queue: in}", "inbound: {queue: in, pool: gpu}")


async def test_routes_show_their_pool_workers_and_whether_they_wait(world: World, gate: asyncio.Event) -> None:
    execution_id = (await world.service.create(await world.config(GPU_ROUTE))).execution_id
    await _processing(world, execution_id)

    # Without a lookup (or with one that cannot answer) nothing is claimed either way.
    [route] = await world.service.routes(execution_id)
    assert (route.pool, route.workers, route.waiting_for_worker) == ("gpu", [], False)
    lookup = FixedRouteWorkers(None)
    world.service.route_workers = lookup
    [route] = await world.service.routes(execution_id)
    assert (route.workers, route.waiting_for_worker) == ([], False)
    assert lookup.asked == [execution_id]

    lookup.answer = RouteWorkers(by_route={}, live_pools=frozenset({"default"}))
    [route] = await world.service.routes(execution_id)
    assert (route.workers, route.waiting_for_worker) == ([], True)
    detail = await world.service.detail(execution_id)
    assert detail["routes"][0]["waiting_for_worker"] is True

    lookup.answer = RouteWorkers(by_route={"wait": ["w2", "w1"]}, live_pools=frozenset({"default", "gpu"}))
    [route] = await world.service.routes(execution_id)
    assert (route.workers, route.waiting_for_worker) == (["w1", "w2"], False)

    gate.set()
    await world.wait(execution_id)
    lookup.answer = RouteWorkers(by_route={}, live_pools=frozenset())
    [route] = await world.service.routes(execution_id)
    assert (route.pool, route.waiting_for_worker) == ("gpu", False)  # only a running execution waits


async def test_running_execution_reads_route_counters_not_an_aggregation(
    world: World, gate: asyncio.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_id = await world.config(GATED)
    execution = await world.service.create(config_id)
    await _processing(world, execution.execution_id)
    assert await world.recorder.flush()
    aggregated = await world.lineage.route_message_counts(execution.execution_id)
    assert aggregated["wait"].total_messages == 1 and aggregated["wait"].in_progress == 1

    async def no_aggregates(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a running execution must not aggregate its lineage")

    monkeypatch.setattr(world.lineage, "route_message_counts", no_aggregates)
    routes = await world.service.routes(execution.execution_id)
    detail = await world.service.detail(execution.execution_id)
    shown = {route.route_id: (route.total_messages, route.in_progress, route.completed) for route in routes}
    assert shown == {"wait": (1, 1, 0)}
    assert [route["total_messages"] for route in detail["routes"]] == [1]
    gate.set()
    done = await world.wait(execution.execution_id)
    assert done.route_counts is not None and done.route_counts["wait"]["completed"] == 1
