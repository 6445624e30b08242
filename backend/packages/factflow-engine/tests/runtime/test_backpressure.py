from __future__ import annotations

import asyncio

import pytest

from factflow_engine.config import BackpressureConfig
from factflow_engine.runtime import AdaptiveLimiter, BackpressureController, FanoutBudget


def _controller(concurrency: int = 4, **config: object) -> tuple[BackpressureController, list[bool]]:
    changes: list[bool] = []
    values = {"max_concurrency": 8, "target_latency_ms": 100, **config}
    controller = BackpressureController(
        BackpressureConfig.model_validate(values), concurrency, on_reading_change=changes.append
    )
    return controller, changes


def test_aimd_needs_five_samples() -> None:
    controller, _ = _controller()
    for _ in range(4):
        controller.record_branch(10_000)
    decision = controller.adjust(work_waiting=True)
    assert decision.reason == "too_few_samples"
    assert controller.limit == 4


def test_aimd_decreases_multiplicatively_when_p90_over_target() -> None:
    controller, _ = _controller(concurrency=5, decrease_factor=0.5, min_concurrency=2)
    for latency in [10, 10, 10, 10, 10, 10, 10, 10, 500, 500]:
        controller.record_branch(latency)
    decision = controller.adjust(work_waiting=True)
    assert (decision.reason, decision.old_limit, decision.new_limit) == ("decrease", 5, 2)
    assert decision.p90_ms == 500
    for _ in range(5):
        controller.record_branch(1000)
    assert controller.adjust(work_waiting=False).new_limit == 2  # floor at min_concurrency


def test_aimd_p90_under_target_increases_only_when_work_waits() -> None:
    controller, _ = _controller(concurrency=4, increase_step=3)
    for _ in range(10):
        controller.record_branch(10)
    assert controller.adjust(work_waiting=False).reason == "hold"
    for latency in [10] * 9 + [1000]:  # one slow branch of ten: p90 is still fast
        controller.record_branch(latency)
    decision = controller.adjust(work_waiting=True)
    assert (decision.reason, decision.new_limit) == ("increase", 7)
    for _ in range(5):
        controller.record_branch(10)
    assert controller.adjust(work_waiting=True).new_limit == 8  # capped at max_concurrency


def test_disabled_backpressure_keeps_the_limit_and_ignores_water_marks() -> None:
    controller, changes = _controller(enabled=False, high_water_mark=10, low_water_mark=5)
    for _ in range(10):
        controller.record_branch(10_000)
    assert controller.adjust(work_waiting=True).new_limit == 4
    assert controller.update_pressure(1_000)
    assert changes == []


def test_water_marks_pause_at_high_and_resume_at_low() -> None:
    controller, changes = _controller(high_water_mark=10, low_water_mark=4)
    assert controller.update_pressure(9)
    assert not controller.update_pressure(10)
    assert not controller.update_pressure(5)  # hysteresis: still above the low mark
    assert controller.update_pressure(4)
    assert changes == [False, True]


async def test_limiter_blocks_beyond_limit_and_follows_limit_changes() -> None:
    limiter = AdaptiveLimiter(2)
    await limiter.acquire()
    await limiter.acquire()
    third = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert not third.done()
    assert limiter.waiting == 1
    limiter.set_limit(3)
    async with asyncio.timeout(1):
        await third
    assert limiter.in_use == 3
    limiter.set_limit(1)
    fourth = asyncio.create_task(limiter.acquire())
    limiter.release()
    limiter.release()
    await asyncio.sleep(0)
    assert not fourth.done()  # 1 in use, limit 1
    limiter.release()
    async with asyncio.timeout(1):
        await fourth
    assert limiter.in_use == 1


async def test_limiter_waiter_cancelled_after_handover_returns_the_slot() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    limiter.release()  # hands the slot to the waiter
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.in_use == 0


def exhausted(budget: FanoutBudget) -> bool:
    return budget.exhausted


async def test_fanout_budget_reports_exhaustion_and_allows_nested_overdraft() -> None:
    changes: list[bool] = []
    budget = FanoutBudget(2, on_exhausted_change=changes.append)
    assert budget.try_acquire()
    await budget.acquire()
    assert exhausted(budget)
    assert not budget.try_acquire()
    budget.acquire_nowait()
    assert budget.in_use == 3
    budget.release()
    budget.release()
    assert not exhausted(budget)
    assert changes == [True, False]
