from __future__ import annotations

import asyncio

import pytest

from factflow_engine.config import CircuitBreakerConfig
from factflow_engine.runtime import CircuitBreaker, CircuitOpenError, CircuitState
from factflow_protocols import NonRetryableError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: FakeClock, **config: object) -> tuple[CircuitBreaker, list[CircuitState]]:
    changes: list[CircuitState] = []
    breaker = CircuitBreaker(
        CircuitBreakerConfig.model_validate({"failure_threshold": 3, "recovery_timeout_seconds": 10, **config}),
        name="r/a",
        clock=clock,
        on_state_change=lambda _breaker, state: changes.append(state),
    )
    return breaker, changes


def state(breaker: CircuitBreaker) -> CircuitState:
    """Read through a call, so mypy does not narrow the property between assertions."""
    return breaker.state


def _fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.acquire()
        breaker.record_failure()


def test_opens_after_consecutive_failures_only() -> None:
    clock = FakeClock()
    breaker, changes = _breaker(clock)
    _fail(breaker, 2)
    breaker.acquire()
    breaker.record_success()  # resets the streak
    _fail(breaker, 2)
    assert state(breaker) is CircuitState.CLOSED
    _fail(breaker)
    assert state(breaker) is CircuitState.OPEN
    assert changes == [CircuitState.OPEN]
    stats = breaker.stats()
    assert (stats.total_calls, stats.failures, stats.successes, stats.opened_count) == (6, 5, 1, 1)
    assert stats.consecutive_failures == 3


def test_open_rejects_with_retry_at_until_timeout_then_half_open() -> None:
    clock = FakeClock()
    breaker, changes = _breaker(clock)
    _fail(breaker, 3)
    clock.now += 4
    with pytest.raises(CircuitOpenError) as caught:
        breaker.acquire()
    assert caught.value.retry_after_seconds == pytest.approx(6.0)
    assert caught.value.code == "circuit_open"
    assert breaker.blocks_reading()
    assert breaker.stats().rejected == 1
    clock.now += 6
    assert not breaker.blocks_reading()
    assert state(breaker) is CircuitState.OPEN  # changes only when a call arrives
    breaker.acquire()
    assert state(breaker) is CircuitState.HALF_OPEN
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN]


def test_half_open_admits_max_calls_and_closes_after_that_many_successes() -> None:
    clock = FakeClock()
    breaker, changes = _breaker(clock, half_open_max_calls=2)
    _fail(breaker, 3)
    clock.now += 10
    breaker.acquire()
    breaker.acquire()
    with pytest.raises(CircuitOpenError):
        breaker.acquire()  # both trial slots taken
    breaker.record_success()
    assert state(breaker) is CircuitState.HALF_OPEN
    breaker.acquire()  # a slot freed
    breaker.record_success()
    breaker.record_success()
    assert state(breaker) is CircuitState.CLOSED
    assert breaker.stats().consecutive_failures == 0
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


def test_trial_failure_reopens() -> None:
    clock = FakeClock()
    breaker, changes = _breaker(clock)
    _fail(breaker, 3)
    clock.now += 10
    breaker.acquire()
    breaker.record_failure()
    assert state(breaker) is CircuitState.OPEN
    assert breaker.stats().opened_count == 2
    assert breaker.seconds_until_trial() == pytest.approx(10.0)


def test_non_retryable_and_cancellation_do_not_count() -> None:
    clock = FakeClock()
    breaker, _ = _breaker(clock, failure_threshold=1)
    breaker.acquire()
    breaker.record(NonRetryableError("bad input"))
    breaker.acquire()
    breaker.record(asyncio.CancelledError())
    assert state(breaker) is CircuitState.CLOSED
    assert breaker.stats().failures == 0
    breaker.acquire()
    breaker.record(TimeoutError())
    assert state(breaker) is CircuitState.OPEN


def test_disabled_breaker_admits_everything() -> None:
    clock = FakeClock()
    breaker, changes = _breaker(clock, enabled=False, failure_threshold=1)
    _fail(breaker, 10)
    breaker.acquire()
    assert state(breaker) is CircuitState.CLOSED
    assert changes == []


async def test_wait_for_change_wakes_on_state_change() -> None:
    clock = FakeClock()
    breaker, _ = _breaker(clock)
    waiter = asyncio.create_task(breaker.wait_for_change(30))
    await asyncio.sleep(0)
    _fail(breaker, 3)
    async with asyncio.timeout(1):
        await waiter
