"""Per-adapter circuit breaker (docs/concepts/routes-and-stages.md, docs/reference/pipeline-yaml.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from factflow_engine.config import CircuitBreakerConfig
from factflow_protocols import NonRetryableError

from ._errors import CircuitOpenError

__all__ = ("AdapterCircuitMetrics", "CircuitBreaker", "CircuitState", "CircuitStats")

logger = logging.getLogger(__name__)

_HALF_OPEN_RECHECK_SECONDS = 1.0
"""Longest wait a caller rejected by a busy half-open breaker is told; a state change wakes it earlier."""


class CircuitState(StrEnum):
    """Breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class CircuitStats:
    """Counters of one breaker since it was created."""

    total_calls: int
    """Calls admitted."""
    successes: int
    failures: int
    """Exceptions and timeouts (`NonRetryableError` and cancellations do not count)."""
    consecutive_failures: int
    rejected: int
    """Calls refused while open (or while every half-open trial slot was taken)."""
    opened_count: int
    state: CircuitState
    state_changed_at: datetime


@dataclass(frozen=True, slots=True)
class AdapterCircuitMetrics:
    """One adapter's breaker, for metrics (`RouteMetrics.circuit_breakers`)."""

    route_id: str
    adapter_name: str
    adapter_index: int
    stats: CircuitStats
    opened_at: datetime | None
    """When the breaker last opened; `None` if it is closed."""


class CircuitBreaker:
    """One adapter's breaker: closed → open → half-open → closed (or open again).

    Closed → open after `failure_threshold` consecutive failures; open → half-open on the first
    call after `recovery_timeout_seconds`; half-open admits `half_open_max_calls` trials at once and
    closes once that many succeeded, while any trial failure reopens it.

    Usage per call: `acquire()` (raises `CircuitOpenError`), then exactly one of
    `record_success()`, `record_failure()` or `record_ignored()`. With `enabled: false` every call is
    admitted and nothing is counted.

    Args:
        config: The adapter's merged breaker settings.
        name: For messages (`<route>/<stage>`).
        clock: Monotonic seconds (tests inject a fake).
        on_state_change: Told `(breaker, new_state)`; must not raise.
    """

    def __init__(
        self,
        config: CircuitBreakerConfig,
        *,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
        on_state_change: Callable[[CircuitBreaker, CircuitState], None] | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self._clock = clock
        self._on_state_change = on_state_change
        self._state = CircuitState.CLOSED
        self._state_changed_at = datetime.now(UTC)
        self._opened_at_mono: float | None = None
        self._opened_at: datetime | None = None
        self._total_calls = 0
        self._successes = 0
        self._failures = 0
        self._consecutive_failures = 0
        self._rejected = 0
        self._opened_count = 0
        self._trials_running = 0
        self._trials_succeeded = 0
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ state

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @property
    def state(self) -> CircuitState:
        """The current state (`open` stays `open` until a call arrives after the timeout)."""
        return self._state

    @property
    def opened_at(self) -> datetime | None:
        """When the breaker last opened, while it is not closed."""
        return self._opened_at if self._state is not CircuitState.CLOSED else None

    def blocks_reading(self) -> bool:
        """Whether the route should read no new deliveries: open and still inside the timeout."""
        return self._state is CircuitState.OPEN and self.seconds_until_trial() > 0

    def seconds_until_trial(self) -> float:
        """Seconds until an open breaker admits a trial call (0 when not open)."""
        if self._state is not CircuitState.OPEN or self._opened_at_mono is None:
            return 0.0
        return max(0.0, self._opened_at_mono + self.config.recovery_timeout_seconds - self._clock())

    def stats(self) -> CircuitStats:
        return CircuitStats(
            total_calls=self._total_calls,
            successes=self._successes,
            failures=self._failures,
            consecutive_failures=self._consecutive_failures,
            rejected=self._rejected,
            opened_count=self._opened_count,
            state=self._state,
            state_changed_at=self._state_changed_at,
        )

    def _transition(self, state: CircuitState) -> None:
        if state is self._state:
            return
        self._state = state
        self._state_changed_at = datetime.now(UTC)
        if state is CircuitState.OPEN:
            self._opened_count += 1
            self._opened_at_mono = self._clock()
            self._opened_at = self._state_changed_at
        self._trials_running = 0
        self._trials_succeeded = 0
        if state is CircuitState.CLOSED:
            self._consecutive_failures = 0
            self._opened_at_mono = None
        logger.info("Circuit breaker %r is now %s", self.name, state.value)
        self._wake()
        if self._on_state_change is not None:
            try:
                self._on_state_change(self, state)
            except Exception:  # observers never break processing
                logger.exception("Circuit breaker observer failed")

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _reject(self, wait: float) -> CircuitOpenError:
        self._rejected += 1
        retry_at = datetime.now(UTC) + timedelta(seconds=wait)
        return CircuitOpenError(retry_at, retry_after_seconds=wait, breaker=self.name)

    # ------------------------------------------------------------------ calls

    def acquire(self) -> None:
        """Admit one call, or raise `CircuitOpenError` with the time to try again."""
        if not self.config.enabled:
            return
        if self._state is CircuitState.OPEN:
            wait = self.seconds_until_trial()
            if wait > 0:
                raise self._reject(wait)
            self._transition(CircuitState.HALF_OPEN)
        if self._state is CircuitState.HALF_OPEN:
            if self._trials_running >= self.config.half_open_max_calls:
                raise self._reject(min(_HALF_OPEN_RECHECK_SECONDS, self.config.recovery_timeout_seconds))
            self._trials_running += 1
        self._total_calls += 1

    def record_success(self) -> None:
        """The admitted call succeeded."""
        if not self.config.enabled:
            return
        self._successes += 1
        self._consecutive_failures = 0
        if self._state is CircuitState.HALF_OPEN:
            self._trials_running = max(0, self._trials_running - 1)
            self._trials_succeeded += 1
            if self._trials_succeeded >= self.config.half_open_max_calls:
                self._transition(CircuitState.CLOSED)
            else:
                self._wake()

    def record_failure(self) -> None:
        """The admitted call raised (or timed out)."""
        if not self.config.enabled:
            return
        self._failures += 1
        self._consecutive_failures += 1
        if self._state is CircuitState.HALF_OPEN:
            self._transition(CircuitState.OPEN)
        elif self._state is CircuitState.CLOSED and self._consecutive_failures >= self.config.failure_threshold:
            self._transition(CircuitState.OPEN)

    def record_ignored(self) -> None:
        """The admitted call ended in a way that does not count (`NonRetryableError`, cancellation)."""
        if not self.config.enabled:
            return
        if self._state is CircuitState.HALF_OPEN and self._trials_running > 0:
            self._trials_running -= 1
            self._wake()

    def record(self, error: BaseException | None) -> None:
        """Record the outcome of an admitted call from the exception it raised (or `None`)."""
        if error is None:
            self.record_success()
        elif isinstance(error, NonRetryableError | asyncio.CancelledError):
            self.record_ignored()
        else:
            self.record_failure()

    async def wait_for_change(self, seconds: float) -> None:
        """Wait until the breaker changes state (or frees a trial slot), at most `seconds`."""
        event = self._changed
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await event.wait()
        except TimeoutError:
            return
