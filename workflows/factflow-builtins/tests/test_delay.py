from __future__ import annotations

import asyncio
from typing import Any

import pytest

from factflow_builtins import DelayAdapter, DelayConfig
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_protocols import PipelineContext


def make(**config: Any) -> DelayAdapter:
    return DelayAdapter(DelayConfig.model_validate(config))


async def test_returns_the_input_after_the_delay() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await make(ms=30).process(PipelineContext(message={"a": 1}, correlation_id="m1"))
    assert loop.time() - started >= 0.03
    assert result is not None and result.message == {"a": 1}


async def test_zero_delay_returns_at_once() -> None:
    result = await make(ms=0).process(PipelineContext(message={"a": 1}, correlation_id="m1"))
    assert result is not None and result.message == {"a": 1}


def test_jitter_stays_within_bounds_and_varies() -> None:
    adapter = make(ms=100, jitter_ms=50)
    adapter.random.seed(7)
    pauses = [adapter.pause_seconds() for _ in range(200)]
    assert all(0.1 <= pause <= 0.15 for pause in pauses)
    assert len(set(pauses)) > 100
    assert make(ms=100).pause_seconds() == 0.1


async def test_cancellation_propagates_promptly() -> None:
    adapter = make(ms=600_000)
    task = asyncio.create_task(adapter.process(PipelineContext(message={}, correlation_id="m1")))
    await asyncio.sleep(0)  # let the task reach its sleep
    task.cancel()
    async with asyncio.timeout(5):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert task.cancelled()


@pytest.mark.parametrize(
    ("config", "code", "where", "suggestion"),
    [
        ({}, "E302", "ms", "'delay' requires 'ms'."),
        ({"ms": 600_001}, "E304", "ms", "'ms' must be between 0 and 600000."),
        ({"ms": -1}, "E304", "ms", "'ms' must be between 0 and 600000."),
        ({"ms": 10, "jitter_ms": -5}, "E304", "jitter_ms", "'jitter_ms' must be at least 0."),
        ({"ms": "10"}, "E303", "ms", "'ms' must be an integer, got '10'."),
        ({"ms": 1.5}, "E303", "ms", "'ms' must be an integer, got 1.5."),
    ],
)
def test_config_errors(config: dict[str, Any], code: str, where: str, suggestion: str) -> None:
    registry = ValidatingAdapterRegistry()
    registry.register(DelayAdapter, name="delay")
    issues = registry.check_adapter("delay", config, config_given=True, path="a")
    assert [(i.code, i.path, i.suggestion) for i in issues] == [(code, f"a.config.{where}", suggestion)]
