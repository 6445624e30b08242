from __future__ import annotations

from factflow_builtins import PassthroughAdapter
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_protocols import PipelineContext


async def test_returns_the_input_unchanged() -> None:
    payload = {"a": 1, "nested": {"b": [1, 2]}}
    result = await PassthroughAdapter().process(PipelineContext(message=payload, correlation_id="m1"))
    assert result is not None
    assert result.message == {"a": 1, "nested": {"b": [1, 2]}}
    assert result.emitted == []


def test_takes_no_configuration() -> None:
    registry = ValidatingAdapterRegistry()
    registry.register(PassthroughAdapter, name="passthrough")
    issues = registry.check_adapter("passthrough", {"x": 1}, config_given=True, path="routes.r.adapters[0]")
    assert [(i.code, i.path) for i in issues] == [("E307", "routes.r.adapters[0].config")]
    assert registry.check_adapter("passthrough", {}, config_given=False, path="routes.r.adapters[0]") == []
