"""`SharedCounts` alone: one atomic reading of real Redis groups and DLQs becomes the execution's counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from factflow_engine.runtime import CompletionAccountant, MessageCounts
from factflow_engine.runtime._shared import STATE_LOST_CODE
from factflow_engine.runtime._shared_counts import SharedCounts, SharedGroup, SharedReading
from factflow_infra.queue import RedisSharedState, RedisStreamsQueueProvider
from factflow_protocols import QueueDepth, QueueError

if TYPE_CHECKING:
    from runtime.conftest import Streams


pytestmark = pytest.mark.redis

GROUPS = (SharedGroup("ingest", "x.in", "ingest"), SharedGroup("work", "x.work", "work"))


def _group(index: int) -> tuple[str, str]:
    return GROUPS[index].queue, GROUPS[index].group


def _counts(shared: RedisSharedState) -> tuple[SharedCounts, CompletionAccountant]:
    accountant = CompletionAccountant({group.queue for group in GROUPS})
    return SharedCounts(shared, groups=GROUPS, dead_letter_queues=["x.dlq"], accountant=accountant), accountant


async def _read(counts: SharedCounts) -> SharedReading:
    reading = await counts.read(marked=None)
    assert reading is not None
    return reading


def _as_counts(accountant: CompletionAccountant) -> tuple[int, int, int, int]:
    counts: MessageCounts = accountant.counts()
    return counts.published, counts.handled, counts.in_flight, counts.dead_lettered


async def test_a_reading_becomes_the_counts_and_the_route_depths(
    shared_state: RedisSharedState, streams: Streams
) -> None:
    await streams.entries(*_group(0), added=1, read=1, acked=1)
    await streams.entries(*_group(1), added=5, read=3, acked=1)
    await streams.dead_letter("x.dlq")
    counts, accountant = _counts(shared_state)

    reading = await _read(counts)
    assert (reading.handled, reading.in_flight, reading.dead_lettered) == (2, 4, 1)
    counts.adopt(reading)

    assert _as_counts(accountant) == (6, 2, 4, 1)
    assert counts.depth("work") == QueueDepth(ready=2, pending=2, settled=1)
    assert counts.depth("ingest") == QueueDepth(ready=0, pending=0, settled=1)
    assert counts.depth("elsewhere") is None


async def test_what_only_the_counters_knew_is_carried_on_top_of_every_reading(
    shared_state: RedisSharedState, streams: Streams
) -> None:
    await streams.entries(*_group(1), added=2, read=2, acked=2)
    counts, accountant = _counts(shared_state)
    reading = await _read(counts)

    counts.start_from(reading, handled=3, dead_lettered=1)
    counts.adopt(reading)

    assert _as_counts(accountant) == (5, 5, 0, 1)


async def test_after_a_loss_the_settled_counts_stay_and_later_readings_add_to_them(
    shared_state: RedisSharedState, streams: Streams
) -> None:
    await streams.entries(*_group(1), added=4, read=4, acked=3)
    counts, accountant = _counts(shared_state)
    counts.adopt(await _read(counts))
    assert _as_counts(accountant) == (4, 3, 1, 0)

    await streams.lose_state()  # Redis restarted without persistence
    counts.carry_over_loss()
    await streams.entries(*_group(1), added=1)  # the re-seed re-published the unsettled one
    counts.adopt(await _read(counts))

    assert _as_counts(accountant) == (4, 3, 1, 0)


async def test_a_reading_of_a_marked_execution_whose_mark_is_gone_says_the_state_was_lost(
    shared_state: RedisSharedState, streams: Streams
) -> None:
    counts, _ = _counts(shared_state)
    await shared_state.mark_shared("e1")
    assert await counts.read(marked="e1") is not None

    await streams.lose_state()

    with pytest.raises(QueueError) as caught:
        await counts.read(marked="e1")
    assert caught.value.code == STATE_LOST_CODE
    assert await counts.read(marked=None) is not None  # unmarked readings do not check


async def test_an_unreachable_queue_gives_no_reading(shared_state: RedisSharedState, redis_url: str) -> None:
    provider = RedisStreamsQueueProvider(redis_url)
    await provider.connect()
    await provider.close()
    counts, _ = _counts(RedisSharedState(provider))

    assert await counts.read(marked=None) is None
