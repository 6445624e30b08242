from __future__ import annotations

from typing import Any

import pytest

from factflow_engine.registry import ValidatingAdapterRegistry


@pytest.fixture(scope="module")
def registry() -> ValidatingAdapterRegistry:
    return ValidatingAdapterRegistry().auto_discover_and_register()


def _codes(registry: ValidatingAdapterRegistry, adapter_type: str, config: Any) -> list[tuple[str, str]]:
    issues = registry.check_adapter(adapter_type, config, config_given=True, path="routes.r.adapters[0]")
    return [(issue.code, issue.path) for issue in issues]


def test_both_adapters_are_registered_through_entry_points(registry: ValidatingAdapterRegistry) -> None:
    assert _codes(registry, "embedding_generator", {}) == []
    assert _codes(registry, "vector_writer", {}) == []


@pytest.mark.parametrize(
    ("adapter_type", "config", "expected"),
    [
        # The key never goes into YAML: there is no option for it.
        ("embedding_generator", {"provider": "openai", "openai": {"api_key": "sk-x"}}, ("E301", ".openai.api_key")),
        ("embedding_generator", {"provider": "cohere"}, ("E304", ".provider")),
        ("embedding_generator", {"batch_size": 0}, ("E304", ".batch_size")),
        ("embedding_generator", {"batch_size": "many"}, ("E303", ".batch_size")),
        ("embedding_generator", {"provider": "onnx"}, ("E306", "")),
        ("embedding_generator", {"provider": "onnx", "onnx": {}}, ("E302", "")),
        ("embedding_generator", {"openai": {"model": "m"}}, ("E306", "")),
        ("embedding_generator", {"provider": "openai", "openai": {"api_key_env": "not a name"}}, ("E304", "")),
        ("embedding_generator", {"provider": "openai", "openai": {"base_url": "localhost:11434"}}, ("E304", "")),
        ("embedding_generator", {"hashing": {"dimensions": 4}}, ("E304", ".hashing.dimensions")),
        ("vector_writer", {"store": "chroma"}, ("E304", ".store")),
        ("vector_writer", {"table": "drop table x"}, ("E304", ".table")),
        ("vector_writer", {"store": "pgvector", "path": "v.sqlite"}, ("E306", "")),
        ("vector_writer", {"database_url_env": "PG_URL"}, ("E306", "")),
    ],
)
def test_options_are_validated_like_any_adapter(
    registry: ValidatingAdapterRegistry, adapter_type: str, config: dict[str, Any], expected: tuple[str, str]
) -> None:
    code, suffix = expected
    found = _codes(registry, adapter_type, config)
    assert len(found) == 1, found
    assert found[0][0] == code
    assert found[0][1].startswith("routes.r.adapters[0].config") and found[0][1].endswith(suffix or "")
