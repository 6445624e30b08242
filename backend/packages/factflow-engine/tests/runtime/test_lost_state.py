"""`LostQueueState` alone: a loss found in a reading, the settle handshake, the re-seed and the final counts.

Real Redis holds the shared mark and the settle handshake; the workers are played by this test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

from factflow_engine.config import PipelineConfigLoader, PipelineGlobalConfig
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import CompletionAccountant, LineageCounts, LineageCountsCallable
from factflow_engine.runtime._completion import ExecutionSignals
from factflow_engine.runtime._lost_state import LostQueueState, SettleTimings
from factflow_engine.runtime._shared_counts import SharedCounts, SharedGroup
from factflow_infra.queue import RedisSharedState
from factflow_protocols import QueueError

if TYPE_CHECKING:
    from runtime.conftest import Streams

pytestmark = [pytest.mark.redis, pytest.mark.timeout(30)]

EXECUTION = "e-lost"
GROUP = SharedGroup("work", "x.work", "work")
PIPELINE = """
version: "1.0"
name: lost
routes:
  work:
    inbound: {queue: x.work}
    adapters: [{type: passthrough}]
"""
QUICK = SettleTimings(min_seconds=0, max_seconds=5, poll_seconds=0.01)


class Leader:
    """The parts a `LostQueueState` works with, and a record of what it asked of them."""

    def __init__(
        self,
        shared: RedisSharedState,
        *,
        timings: SettleTimings = QUICK,
        lineage_counts: LineageCountsCallable | None = None,
    ) -> None:
        self.accountant = CompletionAccountant({"x.work"})
        self.counts = SharedCounts(shared, groups=[GROUP], dead_letter_queues=[], accountant=self.accountant)
        self.signals = ExecutionSignals()
        self.steps: list[str] = []
        self.reseed_error: Exception | None = None
        self.during_reseed: Callable[[], Awaitable[None]] | None = None
        self.during_settle: Callable[[], Awaitable[None]] | None = None
        self.lost = LostQueueState(
            execution_id=EXECUTION,
            counts=self.counts,
            signals=self.signals,
            read=self.read,
            settle_here=self.settle_here,
            reseed=self.reseed,
            lineage_counts=lineage_counts,
            timings=timings,
        )

    async def read(self) -> None:
        self.steps.append("read")
        try:
            reading = await self.counts.read(marked=EXECUTION)
        except QueueError:
            await self.lost.found()
            return
        if reading is not None:
            self.counts.adopt(reading)

    async def settle_here(self) -> None:
        self.steps.append("settled here")
        if self.during_settle is not None:
            await self.during_settle()

    async def reseed(self) -> None:
        if self.reseed_error is not None:
            raise self.reseed_error
        if self.during_reseed is not None:
            await self.during_reseed()
        self.steps.append("re-seeded")


async def _after_a_loss(shared: RedisSharedState, streams: Streams, *, timings: SettleTimings = QUICK) -> Leader:
    """A leader whose marked execution's queue state was lost, found by its next reading."""
    leader = Leader(shared, timings=timings)
    await shared.mark_shared(EXECUTION)
    await streams.lose_state()
    await leader.read()
    return leader


async def test_a_loss_carries_the_counts_marks_the_execution_again_and_asks_for_a_reseed(
    shared_state: RedisSharedState, streams: Streams
) -> None:
    leader = Leader(shared_state)
    await shared_state.mark_shared(EXECUTION)
    await streams.entries(GROUP.queue, GROUP.group, added=3, read=3, acked=2)
    await leader.read()
    assert (leader.accountant.handled, leader.lost.lost, leader.signals.lost_state) == (2, False, False)

    await streams.lose_state()
    await leader.read()

    assert leader.lost.lost and leader.lost.unserved
    assert leader.signals.lost_state
    assert await shared_state.is_shared(EXECUTION)  # workers that start later join
    await leader.read()  # the re-marked execution reads again, from empty groups
    assert leader.accountant.handled == 2  # what was settled before the loss still counts


async def test_the_reseed_waits_until_every_joined_worker_settled(
    shared_state: RedisSharedState, streams: Streams
) -> None:
    leader = await _after_a_loss(shared_state, streams)
    await shared_state.joined(EXECUTION, "w1")  # the worker re-announced what it runs

    async def worker() -> None:
        token = await shared_state.settle_requested(EXECUTION)
        assert token is not None
        await asyncio.sleep(0.1)  # its deliveries still end while the leader waits
        leader.steps.append("w1 settled")
        await shared_state.settled(EXECUTION, "w1", token)

    tasks: list[asyncio.Task[None]] = []

    async def start_worker() -> None:  # the settle request is out by the time the leader settles here
        tasks.append(asyncio.create_task(worker()))

    leader.during_settle = start_worker
    await leader.lost.serve()
    await asyncio.gather(*tasks)

    assert leader.steps == ["read", "read", "settled here", "w1 settled", "re-seeded"]  # found; served
    assert not leader.lost.unserved and leader.lost.lost
    assert not leader.signals.lost_state
    assert leader.signals.wakeup.is_set()


async def test_a_worker_that_does_not_settle_is_given_up_on_and_named(
    shared_state: RedisSharedState, streams: Streams, caplog: pytest.LogCaptureFixture
) -> None:
    leader = await _after_a_loss(
        shared_state, streams, timings=SettleTimings(min_seconds=0, max_seconds=0.2, poll_seconds=0.01)
    )
    await shared_state.joined(EXECUTION, "w-stuck")

    await leader.lost.serve()

    assert leader.steps[-1] == "re-seeded"
    assert "worker(s) w-stuck did not settle" in caplog.text
    assert not leader.lost.unserved


async def test_a_failed_reseed_reports_the_loss_again_and_stays_unserved(
    shared_state: RedisSharedState, streams: Streams
) -> None:
    leader = await _after_a_loss(shared_state, streams)
    leader.signals.lost_state = False  # the watcher took the report
    leader.reseed_error = QueueError("the database is away")

    with pytest.raises(QueueError):
        await leader.lost.serve()

    assert leader.lost.unserved
    assert leader.signals.lost_state  # another pass follows
    leader.reseed_error = None
    await leader.lost.serve()
    assert not leader.lost.unserved


async def test_a_loss_found_while_a_reseed_ran_needs_another_pass(
    shared_state: RedisSharedState, streams: Streams
) -> None:
    leader = await _after_a_loss(shared_state, streams)

    async def lose_again() -> None:
        await streams.lose_state()
        await leader.read()
        leader.steps.append("lost again")

    leader.during_reseed = lose_again  # the restart repeats during the re-seed
    await leader.lost.serve()

    assert leader.steps[-2:] == ["lost again", "re-seeded"]
    assert leader.lost.unserved  # the second loss is not served by the first pass
    assert leader.signals.lost_state


async def test_the_final_counts_come_from_lineage(shared_state: RedisSharedState) -> None:
    config = PipelineConfigLoader(ValidatingAdapterRegistry().auto_discover_and_register()).load(PIPELINE)
    asked: list[str] = []

    async def lineage_counts(execution_id: str, _config: PipelineGlobalConfig) -> LineageCounts:
        asked.append(execution_id)
        return LineageCounts(delivered=7, dead_lettered=1)

    leader = Leader(shared_state, lineage_counts=lineage_counts)
    await leader.lost.count_from_lineage(config, leader.accountant)

    assert asked == [EXECUTION]
    counts = leader.accountant.counts()
    assert (counts.published, counts.handled, counts.in_flight, counts.dead_lettered) == (7, 7, 0, 1)
