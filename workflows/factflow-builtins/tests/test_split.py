from __future__ import annotations

from typing import Any

import pytest

from factflow_builtins import SplitAdapter, SplitConfig
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_protocols import NonRetryableError, PipelineContext

PATH = "routes.r.adapters[1]"


def split(**config: Any) -> SplitAdapter:
    return SplitAdapter(SplitConfig.model_validate(config))


async def run(adapter: SplitAdapter, payload: dict[str, Any]) -> list[dict[str, Any]] | None:
    result = await adapter.process(PipelineContext(message=payload, correlation_id="m1"))
    if result is None:
        return None
    assert result.message is None
    return result.emitted


@pytest.fixture
def registry() -> ValidatingAdapterRegistry:
    registry = ValidatingAdapterRegistry()
    registry.register(SplitAdapter, name="split")
    return registry


async def test_one_message_per_element_in_order() -> None:
    emitted = await run(split(field="items"), {"items": [{"id": 1}, {"id": 2}, 3], "other": "x"})
    assert emitted == [{"item": {"id": 1}}, {"item": {"id": 2}}, {"item": 3}]


async def test_item_field_and_nested_field() -> None:
    emitted = await run(split(field="page.links", item_field="url"), {"page": {"links": ["a", "b"]}})
    assert emitted == [{"url": "a"}, {"url": "b"}]


async def test_keep_fields_are_copied_at_the_same_path() -> None:
    adapter = split(field="items", keep_fields=["batch", "meta.source", "absent.field"])
    payload = {"items": [1, 2], "batch": {"n": 7}, "meta": {"source": "s3", "noise": True}}
    emitted = await run(adapter, payload)
    assert emitted == [
        {"item": 1, "batch": {"n": 7}, "meta": {"source": "s3"}},
        {"item": 2, "batch": {"n": 7}, "meta": {"source": "s3"}},
    ]
    assert emitted is not None
    emitted[0]["batch"]["n"] = 8
    assert emitted[1]["batch"] == {"n": 7}, "children must not share kept values"


async def test_list_index_in_the_field_path() -> None:
    emitted = await run(split(field="pages.1.items"), {"pages": [{"items": [9]}, {"items": [1, 2]}]})
    assert emitted == [{"item": 1}, {"item": 2}]


async def test_empty_list_emits_nothing() -> None:
    assert await run(split(field="items"), {"items": []}) is None


async def test_missing_field_is_non_retryable() -> None:
    with pytest.raises(NonRetryableError, match="no field 'items'") as excinfo:
        await run(split(field="items"), {"other": []})
    assert excinfo.value.code == "split_field_missing"


@pytest.mark.parametrize("value", ["abc", {"a": 1}, 5, None])
async def test_non_list_is_non_retryable(value: object) -> None:
    with pytest.raises(NonRetryableError, match="needs a list at 'items'") as excinfo:
        await run(split(field="items"), {"items": value})
    assert excinfo.value.code == "split_field_not_a_list"


def test_field_is_required(registry: ValidatingAdapterRegistry) -> None:
    issues = registry.check_adapter("split", {}, config_given=True, path=PATH)
    assert [(i.code, i.path) for i in issues] == [("E302", f"{PATH}.config.field")]


@pytest.mark.parametrize(
    ("config", "code", "where"),
    [
        ({"field": "a..b"}, "E304", "field"),
        ({"field": "items", "keep_fields": ["ok", "bad path"]}, "E304", "keep_fields[1]"),
        ({"field": "items", "keep_fields": "batch"}, "E303", "keep_fields"),
        ({"field": "items", "item_field": ""}, "E304", "item_field"),
        ({"field": "items", "keep_fields": ["item.x"]}, "E306", ""),
        ({"field": "items", "fields": ["x"]}, "E301", "fields"),
    ],
)
def test_config_errors(registry: ValidatingAdapterRegistry, config: dict[str, Any], code: str, where: str) -> None:
    issues = registry.check_adapter("split", config, config_given=True, path=PATH)
    assert [(i.code, i.path) for i in issues] == [(code, f"{PATH}.config" + (f".{where}" if where else ""))]


def test_defaults() -> None:
    config = SplitConfig.model_validate({"field": "items"})
    assert (config.item_field, config.keep_fields) == ("item", [])
