from __future__ import annotations

import factflow_engine.registry

EXPORTS = {
    "ADAPTER_ENTRY_POINT_GROUP",
    "AdapterDiscovery",
    "AdapterSource",
    "ADAPTER_NAME_PATTERN",
    "ValidatingAdapterRegistry",
    "auto_discover_and_register",
    "AdapterInfo",
    "AdapterLoadErrorInfo",
    "CONFIG_ISSUES_ERROR_TYPE",
    "config_issues_error",
    "AdapterRegistryError",
    "AdapterNotFoundError",
    "AdapterUnavailableError",
    "AdapterConfigError",
}


def test_public_surface_is_pinned() -> None:
    assert set(factflow_engine.registry.__all__) == EXPORTS


def test_every_exported_name_imports() -> None:
    for name in factflow_engine.registry.__all__:
        assert getattr(factflow_engine.registry, name) is not None


def test_registry_satisfies_the_validator_seam() -> None:
    from factflow_engine.config import AdapterConfigChecker

    assert isinstance(factflow_engine.registry.ValidatingAdapterRegistry(), AdapterConfigChecker)
