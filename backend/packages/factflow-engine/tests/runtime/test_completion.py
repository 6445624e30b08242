"""`CompletionWatcher` alone: a real accountant, a depth reading the test controls, no routes or queues."""

from __future__ import annotations

import asyncio

import pytest

from factflow_engine.runtime import CompletionAccountant
from factflow_engine.runtime._completion import CompletionTimings, CompletionWatcher, ExecutionSignals
from factflow_protocols import ErrorInfo, PublishStatus, QueueDepth

QUEUE = "q.items"
FAST = CompletionTimings(
    stall_check_interval_seconds=0.05,
    stall_timeout_seconds=0.1,
    recheck_max_seconds=0.02,
    resync_after_seconds=0.1,
    lost_state_settle_seconds=0.01,
    quiet_read_attempts=5,
)


class Queues:
    """The depth the watcher reads, set by the test; `None` is a queue that cannot be read."""

    def __init__(self) -> None:
        self.depth: QueueDepth | None = QueueDepth(ready=0, pending=0)
        self.reads = 0

    async def read(self) -> list[QueueDepth] | None:
        self.reads += 1
        return None if self.depth is None else [self.depth]


class Probe:
    def __init__(self) -> None:
        self.local_work = False
        self.holds: list[bool] = []
        self.reconciled = 0

    def hold(self, held: bool) -> None:
        self.holds.append(held)

    async def reconcile(self) -> None:
        self.reconciled += 1


def publish(accountant: CompletionAccountant, message_id: str) -> None:
    counted = accountant.begin_publish(QUEUE)
    accountant.end_publish(QUEUE, counted, [(message_id, PublishStatus.PUBLISHED)])


def settle(accountant: CompletionAccountant, message_id: str) -> None:
    accountant.settle_begin()
    accountant.settle_end(QUEUE, message_id)


def build(
    accountant: CompletionAccountant | None = None, *, reconcile: bool = False
) -> tuple[CompletionWatcher, CompletionAccountant, ExecutionSignals, Queues, Probe]:
    accountant = accountant if accountant is not None else CompletionAccountant([QUEUE])
    signals, queues, probe = ExecutionSignals(), Queues(), Probe()
    watcher = CompletionWatcher(
        execution_id="e1",
        accountant=accountant,
        signals=signals,
        depths=queues.read,
        local_work=lambda: probe.local_work,
        hold_reading=probe.hold,
        reconcile=probe.reconcile if reconcile else None,
        timings=FAST,
    )
    return watcher, accountant, signals, queues, probe


async def test_completes_once_seeded_with_nothing_in_flight_and_empty_queues() -> None:
    watcher, accountant, signals, queues, _ = build()
    publish(accountant, "m1")
    queues.depth = QueueDepth(ready=1, pending=0)
    task = asyncio.create_task(watcher.watch())
    await asyncio.sleep(0.05)
    assert not task.done(), "not seeded yet, and a message is in flight"
    signals.mark_seeded()
    await asyncio.sleep(0.05)
    assert not task.done(), "the message is still in flight"
    queues.depth = QueueDepth(ready=0, pending=0)
    settle(accountant, "m1")
    assert await asyncio.wait_for(task, 2) == ("completed", None, 0)


async def test_waits_while_a_queue_holds_entries_nobody_counted_then_counts_them() -> None:
    watcher, accountant, signals, queues, probe = build()
    signals.mark_seeded()
    queues.depth = QueueDepth(ready=2, pending=1)
    task = asyncio.create_task(watcher.watch())
    # After `resync_after_seconds` of a non-empty queue with nothing in flight, the counters follow it.
    for _ in range(100):
        if accountant.in_flight == 3:
            break
        await asyncio.sleep(0.02)
    assert accountant.in_flight == 3
    assert probe.holds[:2] == [True, False], "the re-sync reads while reading is held"
    assert not task.done()
    queues.depth = QueueDepth(ready=0, pending=0)
    accountant.resync(0)
    assert (await asyncio.wait_for(task, 2))[0] == "completed"


async def test_too_many_dead_letters_fail_the_execution() -> None:
    watcher, accountant, signals, _, _ = build(CompletionAccountant([QUEUE], tolerated_failures=1))
    for message_id in ("m1", "m2"):
        publish(accountant, message_id)
        accountant.dead_lettered(message_id)
        settle(accountant, message_id)
    signals.mark_seeded()
    status, error_info, _ = await asyncio.wait_for(watcher.watch(), 2)
    assert status == "failed"
    assert error_info is not None and error_info.code == "dead_letter_threshold_exceeded"
    assert error_info.details == {"failed_messages": 2, "tolerated_failures": 1}


async def test_dead_letters_within_the_tolerance_complete() -> None:
    watcher, accountant, signals, _, _ = build(CompletionAccountant([QUEUE], tolerated_failures=1))
    publish(accountant, "m1")
    accountant.dead_lettered("m1")
    settle(accountant, "m1")
    signals.mark_seeded()
    assert (await asyncio.wait_for(watcher.watch(), 2))[0] == "completed"


async def test_a_reported_failure_ends_failed_once_work_drains() -> None:
    watcher, accountant, signals, _, _ = build()
    publish(accountant, "m1")
    signals.mark_seeded()
    signals.fail(ErrorInfo("start_failed", "seed"))
    signals.fail(ErrorInfo("other", "second"))
    task = asyncio.create_task(watcher.watch())
    await asyncio.sleep(0.05)
    assert not task.done(), "the failure waits for in-flight work"
    settle(accountant, "m1")
    status, error_info, _ = await asyncio.wait_for(task, 2)
    assert (status, error_info and error_info.code) == ("failed", "start_failed")


async def test_a_stop_request_ends_the_watch_with_its_grace_and_a_cancel_is_never_downgraded() -> None:
    watcher, accountant, signals, _, _ = build()
    publish(accountant, "m1")
    task = asyncio.create_task(watcher.watch())
    await asyncio.sleep(0.02)
    signals.request_stop("cancelled", 3.0)
    signals.request_stop("interrupted", 0.0)
    assert await asyncio.wait_for(task, 2) == ("cancelled", None, 3.0)


async def test_a_stall_is_reconciled_and_the_counters_follow_the_empty_queues() -> None:
    watcher, accountant, signals, queues, probe = build(reconcile=True)
    publish(accountant, "m1")  # counted, but the queue lost it: nothing will ever settle it
    signals.mark_seeded()
    probe.local_work = True
    task = asyncio.create_task(watcher.watch())
    await asyncio.sleep(0.3)
    assert not task.done() and probe.reconciled == 0, "local work running is not a stall"
    probe.local_work = False
    assert (await asyncio.wait_for(task, 3))[0] == "completed"
    assert probe.reconciled == 1
    assert accountant.in_flight == 0


async def test_lost_queue_state_reconciles_at_once_without_a_resync() -> None:
    watcher, accountant, signals, queues, probe = build(reconcile=True)
    publish(accountant, "m1")
    queues.depth = QueueDepth(ready=1, pending=0)
    signals.mark_seeded()
    task = asyncio.create_task(watcher.watch())
    signals.report_lost_state()
    signals.report_lost_state()
    for _ in range(100):
        if probe.reconciled:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert probe.reconciled == 1, "reports arriving together are served by one pass"
    assert accountant.in_flight == 1, "lost state alone does not re-sync the counters"
    queues.depth = QueueDepth(ready=0, pending=0)
    settle(accountant, "m1")
    assert (await asyncio.wait_for(task, 2))[0] == "completed"


async def test_seed_from_queues_counts_settled_and_held_entries_once() -> None:
    watcher, accountant, _, queues, _ = build()
    queues.depth = QueueDepth(ready=3, pending=2, settled=10)
    await watcher.seed_from_queues()
    counts = accountant.counts()
    assert (counts.published, counts.handled, counts.in_flight) == (15, 10, 5)


async def test_an_unreadable_queue_never_completes_and_never_resyncs() -> None:
    watcher, accountant, signals, queues, _ = build()
    queues.depth = None
    signals.mark_seeded()
    task = asyncio.create_task(watcher.watch())
    await asyncio.sleep(0.2)
    assert not task.done()
    assert await watcher.resync_from_queues() is False
    assert accountant.in_flight == 0
    queues.depth = QueueDepth(ready=0, pending=0)
    assert (await asyncio.wait_for(task, 2))[0] == "completed"


@pytest.mark.parametrize("busy", [True, False])
async def test_resync_reads_only_at_a_quiet_moment(busy: bool) -> None:
    watcher, accountant, _, queues, _ = build()
    queues.depth = QueueDepth(ready=4, pending=0)
    if busy:
        accountant.begin_publish(QUEUE)  # a publish in transit, never confirmed
        reads_before = queues.reads
        assert await asyncio.wait_for(watcher.resync_from_queues(), 5) is False
        assert queues.reads == reads_before, "no depth is read while a count is in transit"
    else:
        assert await watcher.resync_from_queues() is True
        assert accountant.in_flight == 4
