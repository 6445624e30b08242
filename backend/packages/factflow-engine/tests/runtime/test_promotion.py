"""An execution that started in process switches to shared counts mid-run (real Redis); the switch alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from factflow_engine.config import ConfigSnapshot, PipelineConfigLoader
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import (
    CompletionAccountant,
    EngineLimits,
    EngineWiring,
    OrchestratorManager,
    PipelineOrchestrator,
    Placement,
    SeedContext,
    scoped_queue_name,
)
from factflow_engine.runtime._completion import ExecutionSignals
from factflow_engine.runtime._promotion import Promotion
from factflow_engine.runtime._shared_counts import SharedCounts, SharedGroup, SharedReading
from factflow_engine.testing import TEST_OPTIONS, RecordedCallbacks, build_snapshot
from factflow_foundation import new_id
from factflow_infra.queue import RedisSharedState, RedisStreamsQueueProvider
from factflow_infra.storage import FilesystemStorageProvider
from factflow_infra.testing import wait_until

if TYPE_CHECKING:
    from runtime.conftest import Streams

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]

ITEMS = 60
POISON = 3
PIPELINE = f"""
version: "1.0"
name: promotion
error_handling: {{tolerated_failures: 1}}
routes:
  ingest:
    inbound: {{queue: m.in}}
    adapters:
      - type: split
        config: {{field: items}}
    outbound: [{{queue: m.work}}]
  work:
    inbound: {{queue: m.work, concurrency: 2, prefetch: 2}}
    adapters:
      - type: delay
        config: {{ms: DELAY_MS}}
      - type: fail
        stage: poison
        config:
          condition: {{field: item.n, operator: eq, value: {POISON}}}
          retryable: false
    outbound: [{{queue: m.done}}]
  done:
    inbound: {{queue: m.done}}
    adapters:
      - type: passthrough
init_message:
  route: ingest
  payload: {{items: {[{"n": n} for n in range(ITEMS)]}}}
"""
EXPECTED = {
    "published": 1 + ITEMS + (ITEMS - 1),
    "handled": 1 + ITEMS + (ITEMS - 1),
    "in_flight": 0,
    "dead_lettered": 1,
    "tolerated_failures": 1,
}


class Node:
    """One process's part: a Redis provider under its own consumer name, and a manager over it."""

    def __init__(
        self, manager: OrchestratorManager, queue: RedisStreamsQueueProvider, shared: RedisSharedState
    ) -> None:
        self.manager = manager
        self.queue = queue
        self.shared = shared
        self.callbacks = RecordedCallbacks()


@pytest.fixture
async def nodes(redis_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Node]]:
    storage = FilesystemStorageProvider(tmp_path / "storage")
    await storage.start()
    registry = ValidatingAdapterRegistry().auto_discover_and_register()
    made: dict[str, Node] = {}

    async def live() -> set[str]:
        return {"leader", "worker"}

    try:
        for name in ("leader", "worker"):
            # Leases longer than the test: nothing is claimed from a live consumer.
            queue = RedisStreamsQueueProvider(redis_url, visibility_timeout_seconds=60, consumer=name)
            queue.set_live_consumers(live)  # the other process's entries stay its own at subscribe
            await queue.connect()
            shared = RedisSharedState(queue)
            if name == "leader":
                manager = EngineWiring(
                    queue=queue,
                    storage=storage,
                    adapters=registry,
                    shared_state=shared,
                    limits=EngineLimits(shutdown_grace_seconds=2.0, options=TEST_OPTIONS),
                ).build_manager()
            else:
                manager = OrchestratorManager(
                    queue=queue,
                    storage=storage,
                    adapters=registry,
                    shutdown_grace_seconds=2.0,
                    options=TEST_OPTIONS,
                    shared_state=shared,
                    role="worker",
                )
            made[name] = Node(manager, queue, shared)
        yield made
    finally:
        for node in made.values():
            await node.manager.shutdown(0)
            await node.queue.close()
        await storage.shutdown()


def _snapshot(delay_ms: int) -> ConfigSnapshot:
    text = PIPELINE.replace("DELAY_MS", str(delay_ms))
    config = PipelineConfigLoader(ValidatingAdapterRegistry().auto_discover_and_register()).load(text)
    return build_snapshot(text, config)


async def _start(
    node: Node, execution_id: str, *, delay_ms: int = 20, skip_init: bool = False, placement: Placement | None = None
) -> PipelineOrchestrator:
    return await node.manager.start(
        node.manager.reserve(execution_id),
        _snapshot(delay_ms),
        callbacks=node.callbacks,
        skip_init=skip_init,
        placement=placement,
    )


def _handled_here(node: Node) -> int:
    return sum(route.completed + route.failed for route in node.manager.metrics_registry.routes.values())


async def _shared_counts(node: Node, orchestrator: PipelineOrchestrator) -> dict[str, int]:
    """The execution's counts as the queue's shared state has them."""
    config = orchestrator.config
    groups = []
    for route_id in config.routes:
        processor = config.processor_config(route_id)
        groups.append((scoped_queue_name(orchestrator.execution_id, processor.inbound_queue), processor.subscription))
    dlqs = [scoped_queue_name(orchestrator.execution_id, queue) for queue in orchestrator.snapshot.dlqs()]
    depths, dead = await node.shared.read(groups, dlqs)
    published = sum(depth.settled + depth.total for depth in depths)
    handled = sum(depth.settled for depth in depths)
    return {
        "published": published,
        "handled": handled,
        "in_flight": published - handled,
        "dead_lettered": dead,
        "tolerated_failures": orchestrator.accountant.tolerated_failures,
    }


async def test_the_shared_reading_of_an_in_process_execution_equals_its_counts(nodes: dict[str, Node]) -> None:
    leader = nodes["leader"]
    execution_id = new_id()
    orchestrator = await _start(leader, execution_id)
    assert not orchestrator.shared
    status, _, counts = await asyncio.wait_for(leader.callbacks.wait(execution_id), 30)

    assert status == "completed"
    assert counts == EXPECTED
    # The consumer groups and the DLQ kept every figure while the execution ran in process.
    assert await _shared_counts(leader, orchestrator) == counts
    assert not await leader.shared.is_shared(execution_id)


async def test_a_promoted_execution_is_shared_with_a_worker_and_completes_with_exact_counts(
    nodes: dict[str, Node], caplog: pytest.LogCaptureFixture
) -> None:
    leader, worker = nodes["leader"], nodes["worker"]
    execution_id = new_id()
    orchestrator = await _start(leader, execution_id, delay_ms=50)
    # The poisoned item was dead-lettered while the execution ran in process: the switch must
    # carry that failure over, once.
    await wait_until(lambda: orchestrator.accountant.failed_messages == 1, within=20, what="the poison item failed")
    assert not await leader.shared.is_shared(execution_id)
    # The leader's routes hold still (so the counts stand still across the switch, and the worker
    # takes a share for sure).
    for route_id in orchestrator.processors:
        orchestrator.set_paused(route_id, True)

    def settled() -> bool:
        return orchestrator.accountant.quiet and not any(p.in_flight for p in orchestrator.processors.values())

    await wait_until(settled, within=10, what="the leader's deliveries settled")
    before = orchestrator.accountant.counts()
    assert 0 < before.in_flight < EXPECTED["published"]

    assert await orchestrator.promote()
    assert orchestrator.shared
    assert await leader.shared.is_shared(execution_id)
    assert orchestrator.accountant.counts() == before  # nothing lost or counted twice at the switch
    assert "the queues' count holds" not in caplog.text
    assert not await orchestrator.promote()  # once is enough
    assert not orchestrator.request_promotion()

    await _start(
        worker, execution_id, delay_ms=50, skip_init=True, placement=Placement(routes=frozenset({"work"}), shared=True)
    )
    await wait_until(lambda: _handled_here(worker) >= 5, within=20, what="the worker handled deliveries")
    for route_id in orchestrator.processors:
        orchestrator.set_paused(route_id, False)
    status, _, counts = await asyncio.wait_for(leader.callbacks.wait(execution_id), 30)
    joined = worker.manager.orchestrator(execution_id)
    assert joined is not None
    joined.request_stop(0)

    assert status == "completed"
    assert counts == EXPECTED
    assert await _shared_counts(leader, orchestrator) == counts
    # Every delivery was handled exactly once, by one process or the other.
    assert _handled_here(leader) + _handled_here(worker) == EXPECTED["handled"]


async def test_a_promotion_while_deliveries_run_keeps_the_counts_exact(
    nodes: dict[str, Node], caplog: pytest.LogCaptureFixture
) -> None:
    leader, worker = nodes["leader"], nodes["worker"]
    execution_id = new_id()
    orchestrator = await _start(leader, execution_id, delay_ms=30)
    await wait_until(lambda: orchestrator.accountant.handled >= 10, within=20, what="progress")
    assert await orchestrator.promote()  # between publishes and settlements of running deliveries
    assert "the queues' count holds" not in caplog.text
    joined = await _start(
        worker, execution_id, delay_ms=30, skip_init=True, placement=Placement(routes=frozenset({"work"}), shared=True)
    )
    status, _, counts = await asyncio.wait_for(leader.callbacks.wait(execution_id), 30)
    joined.request_stop(0)

    assert (status, counts) == ("completed", EXPECTED)
    assert _handled_here(leader) + _handled_here(worker) == EXPECTED["handled"]


async def test_only_a_running_in_process_execution_of_a_full_process_is_promoted(nodes: dict[str, Node]) -> None:
    leader, worker = nodes["leader"], nodes["worker"]
    shared_id = new_id()
    shared_from_start = await _start(leader, shared_id, placement=Placement(shared=True))
    assert shared_from_start.shared
    assert not shared_from_start.request_promotion()
    joined = await _start(
        worker, shared_id, skip_init=True, placement=Placement(routes=frozenset({"work"}), shared=True)
    )
    assert not joined.request_promotion()  # a worker's part never leads
    status, _, counts = await asyncio.wait_for(leader.callbacks.wait(shared_id), 30)
    joined.request_stop(0)
    assert (status, counts) == ("completed", EXPECTED)

    # A seed task still running (replay publishing, recovery setting the counters): not yet.
    release = asyncio.Event()

    async def seed(context: SeedContext) -> None:
        await release.wait()

    seeded_id = new_id()
    seeding = await leader.manager.start(
        leader.manager.reserve(seeded_id), _snapshot(20), callbacks=leader.callbacks, seed=seed
    )
    assert not seeding.request_promotion()
    release.set()
    await wait_until(lambda: seeding.seeded, what="the seed task ended")
    assert await seeding.promote()
    await asyncio.wait_for(leader.callbacks.wait(seeded_id), 30)

    finished_id = new_id()
    finished = await _start(leader, finished_id)
    await asyncio.wait_for(leader.callbacks.wait(finished_id), 30)
    await finished.wait()
    assert not await finished.promote()
    assert not await leader.shared.is_shared(finished_id)


def test_a_dead_letter_publish_under_way_is_not_quiet() -> None:
    accountant = CompletionAccountant({"q"})
    before = accountant.transitions()
    accountant.dead_letter_begin()
    assert (accountant.dead_lettering, accountant.publishing, accountant.settling) == (1, 0, 0)
    assert not accountant.quiet
    during = accountant.transitions()
    accountant.dead_lettered("m")
    accountant.dead_letter_end()
    assert accountant.dead_lettering == 0
    assert accountant.transitions() not in (before, during)


# ---------------------------------------------------------------------- the switch alone


class Switch:
    """A `Promotion` over real Redis, with counters this test moves by hand."""

    def __init__(self, shared: RedisSharedState, *, quiet: bool = True) -> None:
        self.accountant = CompletionAccountant({"p.work"})
        self.counts = SharedCounts(
            shared,
            groups=[SharedGroup("work", "p.work", "work")],
            dead_letter_queues=["p.dlq"],
            accountant=self.accountant,
        )
        self.signals = ExecutionSignals()
        self.ready = True
        self.quiet = quiet
        self.promotion = Promotion(
            execution_id="e-switch",
            counts=self.counts,
            accountant=self.accountant,
            signals=self.signals,
            quiet_reading=self.quiet_reading,
            ready=lambda: self.ready,
        )

    async def quiet_reading(self, read: Callable[[], Awaitable[SharedReading | None]]) -> SharedReading | None:
        return await read() if self.quiet else None


async def test_the_switch_marks_the_execution_and_carries_what_only_the_counters_knew(
    shared_state: RedisSharedState, streams: Streams, caplog: pytest.LogCaptureFixture
) -> None:
    switch = Switch(shared_state)
    await streams.entries("p.work", "work", added=4, read=3, acked=2)
    await streams.dead_letter("p.dlq")
    # Here: 4 published, 3 handled (one repeat was absorbed, so one more than the queue settled), 2 failed
    # (one with no DLQ entry).
    switch.accountant.seed(published=5, handled=3)
    switch.accountant.dead_lettered("m1")
    switch.accountant.dead_lettered("m2")

    assert await switch.promotion.switch()

    assert await shared_state.is_shared("e-switch")
    assert switch.promotion.done and not switch.promotion.possible()
    reading = await switch.counts.read(marked="e-switch")
    assert reading is not None
    switch.counts.adopt(reading)
    counts = switch.accountant.counts()
    assert (counts.published, counts.handled, counts.dead_lettered) == (5, 3, 2)
    assert "the queues' count holds" not in caplog.text
    assert not await switch.promotion.switch()  # once


async def test_a_switch_whose_in_flight_differs_from_the_queues_says_the_queues_hold(
    shared_state: RedisSharedState, streams: Streams, caplog: pytest.LogCaptureFixture
) -> None:
    switch = Switch(shared_state)
    await streams.entries("p.work", "work", added=3)
    switch.accountant.seed(published=1, handled=0)

    assert await switch.promotion.switch()

    assert "in-flight was 1 here and 3 in the queues at the switch; the queues' count holds" in caplog.text


async def test_no_switch_without_a_quiet_moment_or_while_not_ready(
    shared_state: RedisSharedState, streams: Streams
) -> None:
    switch = Switch(shared_state, quiet=False)
    await streams.entries("p.work", "work", added=1)
    assert not await switch.promotion.switch()  # no quiet moment: a later request tries again
    assert not switch.promotion.done

    switch.quiet, switch.ready = True, False
    assert not switch.promotion.request()
    assert not await switch.promotion.promote()
    assert not await switch.promotion.switch()
    assert not await shared_state.is_shared("e-switch")


async def test_a_request_is_answered_by_whoever_runs_the_switch(shared_state: RedisSharedState) -> None:
    switch = Switch(shared_state)
    assert switch.promotion.request()
    pending = switch.signals.promotion
    assert pending is not None and not pending.done()

    waiting = asyncio.create_task(switch.promotion.promote())
    await asyncio.sleep(0)
    switch.signals.end_promotion(await switch.promotion.switch())  # the watcher's turn

    assert await waiting
