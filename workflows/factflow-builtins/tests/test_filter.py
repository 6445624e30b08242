from __future__ import annotations

from typing import Any

import pytest

from factflow_builtins import FilterAdapter, FilterConfig
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_protocols import PipelineContext

PATH = "routes.r.adapters[0]"


def make(condition: dict[str, Any]) -> FilterAdapter:
    return FilterAdapter(FilterConfig.model_validate({"condition": condition}))


@pytest.fixture
def registry() -> ValidatingAdapterRegistry:
    registry = ValidatingAdapterRegistry()
    registry.register(FilterAdapter, name="filter")
    return registry


async def test_passes_the_input_when_the_condition_holds() -> None:
    adapter = make({"field": "item.score", "operator": "gte", "value": 0.5})
    payload = {"item": {"score": 0.75}}
    result = await adapter.process(PipelineContext(message=payload, correlation_id="m1"))
    assert result is not None and result.message == {"item": {"score": 0.75}}


@pytest.mark.parametrize("payload", [{"item": {"score": 0.25}}, {"item": {}}, {"item": {"score": "high"}}])
async def test_ends_the_chain_otherwise(payload: dict[str, Any]) -> None:
    adapter = make({"field": "item.score", "operator": "gte", "value": 0.5})
    assert await adapter.process(PipelineContext(message=payload, correlation_id="m1")) is None


async def test_composite_conditions() -> None:
    adapter = make(
        {
            "all": [
                {"field": "url", "operator": "matches", "value": "^https://"},
                {
                    "any": [
                        {"field": "lang", "operator": "in", "value": ["en", "nb"]},
                        {"field": "lang", "operator": "exists", "value": False},
                    ]
                },
            ]
        }
    )
    kept = [{"url": "https://a", "lang": "nb"}, {"url": "https://b"}]
    dropped = [{"url": "http://a", "lang": "en"}, {"url": "https://c", "lang": "de"}]
    for payload in kept:
        assert await adapter.process(PipelineContext(message=payload, correlation_id="m")) is not None
    for payload in dropped:
        assert await adapter.process(PipelineContext(message=payload, correlation_id="m")) is None


def test_condition_is_required(registry: ValidatingAdapterRegistry) -> None:
    issues = registry.check_adapter("filter", {}, config_given=True, path=PATH)
    assert [(i.code, i.path) for i in issues] == [("E302", f"{PATH}.config.condition")]


@pytest.mark.parametrize(
    ("condition", "code", "where"),
    [
        ({"field": "a", "operator": "equals", "value": 1}, "E401", "condition.operator"),
        ({"field": "a..b", "operator": "eq", "value": 1}, "E402", "condition.field"),
        ({"field": "a", "operator": "gt"}, "E403", "condition.value"),
        ({"field": "a", "operator": "in", "value": "en"}, "E404", "condition.value"),
        ({"field": "a", "operator": "matches", "value": "[a-"}, "E405", "condition.value"),
        ({"all": []}, "E406", "condition.all"),
    ],
)
def test_conditions_are_checked_with_e4xx_codes(
    registry: ValidatingAdapterRegistry, condition: dict[str, Any], code: str, where: str
) -> None:
    issues = registry.check_adapter("filter", {"condition": condition}, config_given=True, path=PATH)
    assert [(i.code, i.path) for i in issues] == [(code, f"{PATH}.config.{where}")]


def test_operator_typo_gets_a_did_you_mean(registry: ValidatingAdapterRegistry) -> None:
    condition = {"field": "a", "operator": "equals", "value": 1}
    (issue,) = registry.check_adapter("filter", {"condition": condition}, config_given=True, path=PATH)
    assert "Did you mean 'eq'?" in issue.suggestion
