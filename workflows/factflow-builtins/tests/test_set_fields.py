from __future__ import annotations

from typing import Any

import pytest

from factflow_builtins import SetFieldsAdapter, SetFieldsConfig
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_protocols import PipelineContext


async def run(config: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any] | None:
    adapter = SetFieldsAdapter(SetFieldsConfig.model_validate(config))
    result = await adapter.process(PipelineContext(message=payload, correlation_id="m1"))
    assert result is not None
    return result.message


async def test_adds_fields() -> None:
    assert await run({"values": {"reviewed": False}}, {"a": 1}) == {"a": 1, "reviewed": False}


async def test_nested_mappings_merge_and_other_values_replace() -> None:
    payload = {"meta": {"source": "s3", "tags": ["a"]}, "score": 1}
    values = {"meta": {"tags": ["b"], "extra": {"x": 1}}, "score": None}
    assert await run({"values": values}, payload) == {
        "meta": {"source": "s3", "tags": ["b"], "extra": {"x": 1}},
        "score": None,
    }


async def test_overwrite_false_only_adds_missing_keys() -> None:
    payload = {"meta": {"source": "s3"}, "score": 1, "empty": None}
    values = {"meta": {"source": "web", "lang": "en"}, "score": 2, "empty": 3, "new": True}
    assert await run({"values": values, "overwrite": False}, payload) == {
        "meta": {"source": "s3", "lang": "en"},
        "score": 1,
        "empty": None,
        "new": True,
    }


async def test_a_mapping_replaces_a_scalar_only_with_overwrite() -> None:
    assert await run({"values": {"a": {"b": 1}}}, {"a": 5}) == {"a": {"b": 1}}
    assert await run({"values": {"a": {"b": 1}}, "overwrite": False}, {"a": 5}) == {"a": 5}


async def test_neither_input_nor_config_is_shared_with_the_output() -> None:
    adapter = SetFieldsAdapter(SetFieldsConfig.model_validate({"values": {"tags": ["x"], "meta": {"k": 1}}}))
    payload: dict[str, Any] = {"meta": {"source": "s3"}}
    first = await adapter.process(PipelineContext(message=payload, correlation_id="m1"))
    assert first is not None and first.message is not None
    first.message["tags"].append("mutated")
    first.message["meta"]["k"] = 99
    assert payload == {"meta": {"source": "s3"}}
    second = await adapter.process(PipelineContext(message={}, correlation_id="m2"))
    assert second is not None and second.message == {"tags": ["x"], "meta": {"k": 1}}


@pytest.mark.parametrize(
    ("config", "code", "where"),
    [
        ({}, "E302", "values"),
        ({"values": ["a"]}, "E303", "values"),
        ({"values": {}, "overwrite": "no"}, "E303", "overwrite"),
        ({"values": {}, "overwrte": False}, "E301", "overwrte"),
    ],
)
def test_config_errors(config: dict[str, Any], code: str, where: str) -> None:
    registry = ValidatingAdapterRegistry()
    registry.register(SetFieldsAdapter, name="set_fields")
    issues = registry.check_adapter("set_fields", config, config_given=True, path="a")
    assert [(i.code, i.path) for i in issues] == [(code, f"a.config.{where}")]
