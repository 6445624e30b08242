"""`CompletionWatcher`: when an execution is done, and keeping its counters true to the queues.

An execution completes once it is seeded, nothing is in flight and every consumed queue is empty
(docs/concepts/guarantees.md). The watcher decides that from the accountant and a depth probe it is
given, and it also runs the stall detector (in flight while the queues are empty and nothing runs
here) and the reconciliation after lost queue state. It owns no route, queue or adapter: the
orchestrator hands it probes, so it can be tested with a fake depth reading and a real accountant.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from factflow_engine._ports import FinalStatus
from factflow_protocols import ErrorInfo, QueueDepth

from ._accounting import CompletionAccountant

__all__ = ("CompletionTimings", "CompletionWatcher", "ExecutionSignals", "WatchOutcome")

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

WatchOutcome = tuple[FinalStatus, ErrorInfo | None, float | None]
"""Final status, its `error_info`, and the grace the routes get to drain."""

DepthProbe = Callable[[], Awaitable[list[QueueDepth] | None]]
"""Reads the consumed queues' depths; None when any of them is unknown (queue unavailable)."""


@dataclass
class ExecutionSignals:
    """What the outside tells a running execution; the watcher acts on it at its next turn.

    `wakeup` is set on every signal and on counter changes that may end the execution.
    """

    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    stop_request: tuple[FinalStatus, float | None] | None = None
    failure: ErrorInfo | None = None
    seeded: bool = False
    lost_state: bool = False
    promotion: asyncio.Future[bool] | None = None
    """A pending request to switch to the queue's shared counts (`request_promotion`)."""

    def stopping(self) -> bool:
        """A stop was requested (a method, so a check after an await is not narrowed away)."""
        return self.stop_request is not None

    def request_stop(self, status: FinalStatus, grace: float | None) -> None:
        # A cancel is never downgraded to a shutdown's `interrupted`.
        if self.stop_request is None or self.stop_request[0] != "cancelled":
            self.stop_request = (status, grace)
        self.wakeup.set()

    def fail(self, error_info: ErrorInfo) -> None:
        """End `failed` with `error_info` once in-flight work drains; the first failure wins."""
        if self.failure is None:
            self.failure = error_info
        self.wakeup.set()

    def mark_seeded(self) -> None:
        self.seeded = True
        self.wakeup.set()

    def request_promotion(self) -> asyncio.Future[bool]:
        """Ask the watcher to switch the execution to shared counts between two of its checks.

        Returns a future that tells whether it switched (False: no quiet moment, or the execution
        ended first); a request while one is pending joins it.
        """
        if self.promotion is None or self.promotion.done():
            self.promotion = asyncio.get_running_loop().create_future()
        self.wakeup.set()
        return self.promotion

    def end_promotion(self, promoted: bool) -> None:
        """Answer the pending promotion request, if any."""
        if self.promotion is not None and not self.promotion.done():
            self.promotion.set_result(promoted)

    def report_lost_state(self) -> None:
        # One bit: reports during a reconciliation schedule at most one more pass.
        self.lost_state = True
        self.wakeup.set()


@dataclass(frozen=True)
class CompletionTimings:
    """How often the watcher looks, and how long it lets a doubt stand."""

    stall_check_interval_seconds: float = 10.0
    stall_timeout_seconds: float = 30.0
    recheck_max_seconds: float = 1.0
    """Longest pause between depth re-checks while nothing is in flight but queues are not empty."""
    recheck_initial_seconds: float = 0.02
    resync_after_seconds: float = 5.0
    """How long queues may hold entries while in-flight is zero before the counters are re-synced."""
    lost_state_settle_seconds: float = 0.2
    """Lost-state reports arriving within this window (every queue of an execution after one Redis
    restart) are served by one reconciliation."""
    quiet_read_attempts: int = 200
    """Tries at reading the depths while no publish or settlement is in transit."""


class CompletionWatcher:
    """Watches one execution until it completes, fails, or is asked to stop.

    Args:
        execution_id: For logs.
        accountant: The execution's counters.
        signals: Stop requests, failures, seeding and lost-state reports.
        depths: Reads the consumed queues' depths.
        local_work: Whether a seed task or a delivery of the execution runs in this process.
        hold_reading: Holds (True) or releases (False) the routes' reading, for a quiet depth read.
        reconcile: Re-injects what the queues lost (recovery's reconciler); None when there is none.
        promote: Switches the execution to the queue's shared counts (`ExecutionSignals.request_promotion`);
            run by the watcher between its checks, so no completion decision straddles the switch.
        timings: Check intervals and timeouts.
        clock: Monotonic seconds (the event loop's clock by default).
    """

    def __init__(
        self,
        *,
        execution_id: str,
        accountant: CompletionAccountant,
        signals: ExecutionSignals,
        depths: DepthProbe,
        local_work: Callable[[], bool],
        hold_reading: Callable[[bool], None],
        reconcile: Callable[[], Awaitable[None]] | None = None,
        promote: Callable[[], Awaitable[bool]] | None = None,
        timings: CompletionTimings = CompletionTimings(),
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._execution_id = execution_id
        self._accountant = accountant
        self._signals = signals
        self._depths = depths
        self._local_work = local_work
        self._hold_reading = hold_reading
        self._reconcile_lost = reconcile
        self._promote = promote
        self._timings = timings
        self._clock = clock if clock is not None else asyncio.get_running_loop().time

    async def watch(self) -> WatchOutcome:
        """Return the execution's outcome: completion, a failure, or the stop that was requested."""
        signals, accountant, timings, clock = self._signals, self._accountant, self._timings, self._clock
        recheck = timings.recheck_initial_seconds
        nonempty_since: float | None = None
        stalled_since: float | None = None
        next_stall_check = clock() + timings.stall_check_interval_seconds
        while True:
            signals.wakeup.clear()
            if signals.stop_request is not None:
                status, grace = signals.stop_request
                return status, None, grace
            if signals.promotion is not None and not signals.promotion.done():
                signals.end_promotion(await self._promote_now())
                continue
            wait = max(0.0, next_stall_check - clock())
            if signals.seeded and accountant.in_flight <= 0:
                depth = await self.total_depth()
                if signals.stopping():
                    continue
                if depth == 0 and accountant.in_flight <= 0:
                    return self.outcome()
                if depth is not None and depth > 0 and accountant.in_flight <= 0:
                    nonempty_since = nonempty_since if nonempty_since is not None else clock()
                    if clock() - nonempty_since >= timings.resync_after_seconds:
                        # Entries nobody counted (recovery, a crashed publisher): count them.
                        await self.resync_from_queues()
                        nonempty_since = None
                wait = min(wait, recheck)
                recheck = min(timings.recheck_max_seconds, recheck * 2)
            else:
                recheck = timings.recheck_initial_seconds
                nonempty_since = None
            if signals.lost_state or clock() >= next_stall_check:
                stalled_since = await self._check_stall(stalled_since, clock())
                next_stall_check = clock() + timings.stall_check_interval_seconds
                continue
            try:
                async with asyncio.timeout(wait):
                    await signals.wakeup.wait()
            except TimeoutError:
                pass

    def outcome(self) -> WatchOutcome:
        """The status of an execution whose work is done: its failure, too many dead letters, or completed."""
        if self._signals.failure is not None:
            return "failed", self._signals.failure, 0
        failed = self._accountant.failed_messages
        tolerated = self._accountant.tolerated_failures
        if failed > tolerated:
            return (
                "failed",
                ErrorInfo(
                    "dead_letter_threshold_exceeded",
                    f"{failed} message(s) failed; at most {tolerated} tolerated.",
                    {"failed_messages": failed, "tolerated_failures": tolerated},
                ),
                0,
            )
        return "completed", None, 0

    async def _promote_now(self) -> bool:
        if self._promote is None:
            return False
        try:
            return await self._promote()
        except Exception:
            logger.exception(
                "Execution %r: switching to shared counts failed; it goes on as it was", self._execution_id
            )
            return False

    async def total_depth(self) -> int | None:
        """Ready plus pending entries across the consumed queues; None if any depth is unknown."""
        depths = await self._depths()
        return None if depths is None else sum(depth.total for depth in depths)

    async def _check_stall(self, stalled_since: float | None, now: float) -> float | None:
        """The stall detector: in-flight > 0 while the queues are empty and nothing runs locally."""
        signals = self._signals
        lost = signals.lost_state
        if lost:
            # Let the other queues of the execution report the same loss: one pass serves them all.
            await asyncio.sleep(self._timings.lost_state_settle_seconds)
        signals.lost_state = False
        if self._accountant.in_flight <= 0 and not lost:
            return None
        depth = await self.total_depth()
        stalled = depth == 0 and not self._local_work()
        if not stalled and not lost:
            return None
        since = stalled_since if stalled_since is not None else now
        if not lost and now - since < self._timings.stall_timeout_seconds:
            return since
        await self._reconcile(resync=not lost)
        return None

    async def _reconcile(self, *, resync: bool) -> None:
        """Re-inject what the queues lost; after a stall, also re-sync the counters to the queues.

        After lost queue state the counters need no re-sync: they count each message once, and
        every lost message comes back under its own id. Messages that cannot come back are counted
        as failures, and only then do the counters follow the queues.
        """
        failures = self._accountant.failed_messages
        if self._reconcile_lost is not None:
            try:
                await self._reconcile_lost()
            except Exception:
                logger.exception("Reconciliation of execution %r failed", self._execution_id)
        if resync or self._accountant.failed_messages > failures:
            await self.resync_from_queues()

    async def resync_from_queues(self) -> bool:
        """Make in-flight equal the entries the consumed queues hold, read while no count is in transit.

        False when no quiet read was possible (the counters stay as they were; the next check
        tries again).
        """
        depths = await self.quiet_depths()
        if depths is None:
            logger.warning("Execution %r: no quiet moment to re-sync its counters; trying later", self._execution_id)
            return False
        depth = sum(entry.total for entry in depths)
        if depth != self._accountant.in_flight:
            logger.warning(
                "Execution %r: re-syncing in-flight from %d to the queue depth %d",
                self._execution_id,
                self._accountant.in_flight,
                depth,
            )
            self._accountant.resync(depth)
        return True

    async def seed_from_queues(self) -> None:
        """Start the counters from what the consumed queues kept (a resumed execution, Redis mode).

        `published` is every entry the queues hold or settled, `handled` every settled one; read at
        a quiet moment, so a publish or settlement in transit is neither lost nor counted twice.
        """
        depths = await self.quiet_depths()
        if depths is None:  # no quiet moment: the best reading there is
            depths = await self._depths()
            if depths is None:
                logger.warning("Execution %r: queue depths unknown; counts start at zero", self._execution_id)
                return
        self._accountant.seed(
            published=sum(entry.settled + entry.total for entry in depths),
            handled=sum(entry.settled for entry in depths),
        )

    async def quiet_depths(self) -> list[QueueDepth] | None:
        """The consumed queues' depths read while no publish or settlement was in transit, or None."""
        return await self.quiet_reading(self._depths)

    async def quiet_reading(self, read: Callable[[], Awaitable[_T | None]]) -> _T | None:
        """`read()` taken while no publish, settlement or dead-lettering was in transit, or None.

        Reading is held meanwhile, so no new delivery starts; deliveries already running may publish
        or settle, and a read they overlap is taken again. When it returns a value, the counters are
        still as they were at the read (nothing awaited since).
        """
        self._hold_reading(True)
        try:
            accountant = self._accountant
            for _ in range(self._timings.quiet_read_attempts):
                if not accountant.quiet:
                    await accountant.wait_changed(0.05)
                    continue
                before = accountant.transitions()
                value = await read()
                if value is None:
                    return None
                if accountant.quiet and accountant.transitions() == before:
                    return value
            return None
        finally:
            self._hold_reading(False)
