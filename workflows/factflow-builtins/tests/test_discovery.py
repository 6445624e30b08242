from __future__ import annotations

import factflow_builtins
from factflow_engine.registry import AdapterDiscovery, ValidatingAdapterRegistry

BUILTINS = {
    "passthrough": factflow_builtins.PassthroughAdapter,
    "split": factflow_builtins.SplitAdapter,
    "filter": factflow_builtins.FilterAdapter,
    "set_fields": factflow_builtins.SetFieldsAdapter,
    "delay": factflow_builtins.DelayAdapter,
    "fail": factflow_builtins.FailAdapter,
}


def test_entry_points_declare_all_six() -> None:
    entries = AdapterDiscovery().discover()
    for name in BUILTINS:
        (source,) = entries[name]
        assert source.distribution == "factflow-builtins"


def test_discovery_registers_all_six_as_usable() -> None:
    registry = ValidatingAdapterRegistry().auto_discover_and_register()
    assert set(BUILTINS) <= set(registry.types())
    for name, cls in BUILTINS.items():
        assert registry.get(name) is cls
        info = registry.describe_one(name)
        assert info["load_error"] is None
        assert info["package"] == "factflow-builtins"
        assert info["description"]
        assert (info["config_schema"] is None) == (name == "passthrough")


def test_schemas_document_every_field() -> None:
    registry = ValidatingAdapterRegistry().auto_discover_and_register()
    for name in BUILTINS:
        schema = registry.describe_one(name)["config_schema"]
        for field, spec in (schema or {}).get("properties", {}).items():
            assert spec.get("description"), f"{name}.{field} has no description"
