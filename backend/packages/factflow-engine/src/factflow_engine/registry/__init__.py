"""Adapter discovery (`factflow.adapters` entry points) and the validating adapter registry."""

from __future__ import annotations

from ._config_check import CONFIG_ISSUES_ERROR_TYPE, config_issues_error
from ._entry_points import ADAPTER_ENTRY_POINT_GROUP, AdapterDiscovery, AdapterSource
from ._errors import AdapterConfigError, AdapterNotFoundError, AdapterRegistryError, AdapterUnavailableError
from ._registry import (
    ADAPTER_NAME_PATTERN,
    AdapterInfo,
    AdapterLoadErrorInfo,
    ValidatingAdapterRegistry,
    auto_discover_and_register,
)

__all__ = (
    # discovery
    "ADAPTER_ENTRY_POINT_GROUP",
    "AdapterDiscovery",
    "AdapterSource",
    # registry
    "ADAPTER_NAME_PATTERN",
    "ValidatingAdapterRegistry",
    "auto_discover_and_register",
    "AdapterInfo",
    "AdapterLoadErrorInfo",
    # config models
    "CONFIG_ISSUES_ERROR_TYPE",
    "config_issues_error",
    # errors
    "AdapterRegistryError",
    "AdapterNotFoundError",
    "AdapterUnavailableError",
    "AdapterConfigError",
)
