from __future__ import annotations

from typing import Any

import pytest

from factflow_builtins import FailAdapter, FailConfig, InducedFailureError
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_protocols import NonRetryableError, PipelineContext


def make(**config: Any) -> FailAdapter:
    return FailAdapter(FailConfig.model_validate(config))


def context(payload: dict[str, Any], *, attempt: int = 1, delivery_count: int = 1) -> PipelineContext:
    return PipelineContext(message=payload, correlation_id="m1", attempt=attempt, delivery_count=delivery_count)


async def test_defaults_fail_every_message_always_and_retryably() -> None:
    adapter = FailAdapter()
    for attempt in (1, 2, 50):
        with pytest.raises(InducedFailureError, match="^induced failure$") as excinfo:
            await adapter.process(context({"a": 1}, attempt=attempt))
        assert not isinstance(excinfo.value, NonRetryableError)
        assert excinfo.value.code == "induced_failure"


async def test_times_fails_the_first_attempts_then_passes_through() -> None:
    adapter = make(times=2, message="flaky upstream")
    for attempt in (1, 2):
        with pytest.raises(InducedFailureError, match="flaky upstream"):
            await adapter.process(context({"a": 1}, attempt=attempt))
    result = await adapter.process(context({"a": 1}, attempt=3))
    assert result is not None and result.message == {"a": 1}


async def test_attempts_count_within_a_delivery() -> None:
    adapter = make(times=1)
    with pytest.raises(InducedFailureError):
        await adapter.process(context({"a": 1}, attempt=1, delivery_count=3))
    result = await adapter.process(context({"a": 1}, attempt=2, delivery_count=3))
    assert result is not None


async def test_only_matching_messages_fail() -> None:
    adapter = make(condition={"field": "item.id", "operator": "eq", "value": 7}, times=2)
    with pytest.raises(InducedFailureError):
        await adapter.process(context({"item": {"id": 7}}))
    result = await adapter.process(context({"item": {"id": 8}}))
    assert result is not None and result.message == {"item": {"id": 8}}


async def test_non_retryable_failure() -> None:
    adapter = make(retryable=False, message="poison")
    with pytest.raises(NonRetryableError, match="^poison$") as excinfo:
        await adapter.process(context({}))
    assert excinfo.value.code == "induced_failure"


@pytest.mark.parametrize(
    ("config", "code", "where"),
    [
        ({"times": 0}, "E304", "times"),
        ({"times": "twice"}, "E303", "times"),
        ({"retryable": "yes"}, "E303", "retryable"),
        ({"message": 5}, "E303", "message"),
        ({"condition": {"field": "a", "operator": "eq"}}, "E403", "condition.value"),
        ({"condition": {"field": "a", "operator": "eq", "value": 1}, "time": 2}, "E301", "time"),
    ],
)
def test_config_errors(config: dict[str, Any], code: str, where: str) -> None:
    registry = ValidatingAdapterRegistry()
    registry.register(FailAdapter, name="fail")
    issues = registry.check_adapter("fail", config, config_given=True, path="a")
    assert [(i.code, i.path) for i in issues] == [(code, f"a.config.{where}")]


def test_null_condition_and_times_are_allowed() -> None:
    registry = ValidatingAdapterRegistry()
    registry.register(FailAdapter, name="fail")
    assert registry.check_adapter("fail", {"condition": None, "times": None}, config_given=True, path="a") == []
