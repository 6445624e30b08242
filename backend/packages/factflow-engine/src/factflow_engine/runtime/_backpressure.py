"""Route concurrency limit (gate 2), AIMD and water marks (docs/concepts/routes-and-stages.md)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from factflow_engine.config import BackpressureConfig, PipelineGlobalConfig

__all__ = ("AdaptiveLimiter", "AimdDecision", "BackpressureController", "pressure_queues")

logger = logging.getLogger(__name__)

MIN_SAMPLES = 5
"""Branches that must finish in a window before AIMD adjusts the limit."""

_MAX_SAMPLES = 10_000
"""Latency samples kept per window; older ones are dropped."""


class AdaptiveLimiter:
    """A semaphore whose limit can change while it is in use (gate 2).

    Lowering the limit never interrupts holders; new acquirers wait until usage is below the
    new limit. Waiters are served first come, first served.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        self._limit = limit
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        """Acquirers waiting for a slot."""
        return len(self._waiters)

    def set_limit(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._wake()

    async def acquire(self) -> None:
        if self._in_use < self._limit and not self._waiters:
            self._in_use += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just before the cancellation landed: give it back.
                self.release()
            raise
        finally:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass

    def acquire_nowait(self) -> None:
        """Take a slot at once, even beyond the limit."""
        self._in_use += 1

    def release(self) -> None:
        self._in_use -= 1
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if self._in_use >= self._limit:
                break
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)


@dataclass(frozen=True, slots=True)
class AimdDecision:
    """What one AIMD adjustment did."""

    samples: int
    p90_ms: float | None
    old_limit: int
    new_limit: int
    reason: str
    """`decrease`, `increase`, `hold` or `too_few_samples`."""


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[rank]


class BackpressureController:
    """One route's adaptive concurrency limit and water marks.

    * **AIMD.** `adjust(work_waiting)` is called every `adjust_interval_seconds`. With at least
      five branch latencies in the window: p90 above `target_latency_ms` multiplies the limit by
      `decrease_factor` (floored, at least `min_concurrency`); otherwise, if work was waiting,
      the limit grows by `increase_step` (at most `max_concurrency`).
    * **Water marks.** `update_pressure(pressure)` pauses reading at `high_water_mark` and
      resumes at or below `low_water_mark`.
    * With `enabled: false` the limit stays at `inbound.concurrency` and reading never pauses.

    Args:
        config: The route's merged backpressure policy (`max_concurrency` resolved).
        concurrency: `inbound.concurrency`, the starting limit.
        on_reading_change: Told `True` when reading may go on, `False` when it must pause.
    """

    def __init__(
        self,
        config: BackpressureConfig,
        concurrency: int,
        *,
        on_reading_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.config = config
        self.min_concurrency = config.min_concurrency
        self.max_concurrency = config.max_concurrency if config.max_concurrency is not None else concurrency
        self.limiter = AdaptiveLimiter(concurrency)
        self._samples: deque[float] = deque(maxlen=_MAX_SAMPLES)
        self._on_reading_change = on_reading_change
        self._above_high_water = False
        self.pressure = 0

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @property
    def limit(self) -> int:
        return self.limiter.limit

    @property
    def reading_allowed(self) -> bool:
        """False while pressure went over the high-water mark and has not fallen to the low one."""
        return not self._above_high_water

    def record_branch(self, latency_ms: float) -> None:
        """One branch finished after `latency_ms` of active time."""
        self._samples.append(latency_ms)

    def adjust(self, *, work_waiting: bool) -> AimdDecision:
        """Apply one AIMD step and start a new measurement window."""
        samples = list(self._samples)
        self._samples.clear()
        old = self.limiter.limit
        if not self.config.enabled:
            return AimdDecision(len(samples), None, old, old, "hold")
        if len(samples) < MIN_SAMPLES:
            return AimdDecision(len(samples), None, old, old, "too_few_samples")
        p90 = _percentile(samples, 0.9)
        if p90 > self.config.target_latency_ms:
            new = max(self.min_concurrency, math.floor(old * self.config.decrease_factor))
            reason = "decrease"
        elif work_waiting:
            new = min(self.max_concurrency, old + self.config.increase_step)
            reason = "increase"
        else:
            new = old
            reason = "hold"
        if new != old:
            logger.debug("AIMD %s: limit %d → %d (p90 %.1f ms)", reason, old, new, p90)
            self.limiter.set_limit(new)
        return AimdDecision(len(samples), p90, old, new, reason)

    def update_pressure(self, pressure: int) -> bool:
        """Record the sampled pressure; returns whether reading may go on."""
        self.pressure = pressure
        if not self.config.enabled:
            return True
        before = self._above_high_water
        if not before and pressure >= self.config.high_water_mark:
            self._above_high_water = True
        elif before and pressure <= self.config.low_water_mark:
            self._above_high_water = False
        if before != self._above_high_water and self._on_reading_change is not None:
            try:
                self._on_reading_change(not self._above_high_water)
            except Exception:  # observers never break processing
                logger.exception("Backpressure observer failed")
        return not self._above_high_water


def pressure_queues(config: PipelineGlobalConfig, route_id: str) -> list[tuple[str, str]]:
    """`(queue, subscription)` of the consumed outbound queues that count toward `route_id`'s pressure.

    Queues whose consumer leads back into a cycle through `route_id` are left out: their depth
    partly waits on the route itself, and counting it could pause the route for good.
    """
    consumed = config.consumed_queues()
    edges = {
        source: {consumed[entry.queue_name] for entry in route.outbound if entry.queue_name in consumed}
        for source, route in config.routes.items()
    }

    def reaches(start: str, target: str) -> bool:
        seen: set[str] = set()
        stack = [start]
        while stack:
            node = stack.pop()
            if node == target:
                return True
            if node in seen:
                continue
            seen.add(node)
            stack.extend(edges.get(node, ()))
        return False

    queues: list[tuple[str, str]] = []
    for entry in config.routes[route_id].outbound:
        consumer = consumed.get(entry.queue_name)
        if consumer is None or reaches(consumer, route_id):
            continue
        consumer_route = config.routes[consumer]
        queues.append((entry.queue_name, consumer_route.inbound.subscription or consumer))
    return queues
