"""Pipeline YAML, adapter registry and the runtime that runs executions.

Public names resolve lazily (PEP 562), so importing one subpackage — the CLI's local
`config validate` imports only `factflow_engine.config` and `factflow_engine.registry` — does not
pull in the runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext

    from ._ports import EngineEventSink, OrchestratorCallbacks, PauseStateStore
    from .conditions import ConditionOperator, OperatorRegistry
    from .config import (
        AdapterConfig,
        BackpressureConfig,
        CircuitBreakerConfig,
        ConditionConfig,
        ConfigurationError,
        ErrorHandlingConfig,
        InboundConfig,
        InitMessageConfig,
        OrchestratorConfig,
        OutboundConfig,
        PipelineConfigLoader,
        PipelineGlobalConfig,
        ProcessorConfig,
        RouteConfig,
        ValidationIssue,
        ValidationReport,
        configure_validation,
        validate_route_config,
    )
    from .registry import AdapterDiscovery, ValidatingAdapterRegistry, auto_discover_and_register
    from .runtime import (
        AdapterCircuitMetrics,
        BackpressureController,
        CircuitBreaker,
        CircuitOpenError,
        CircuitState,
        CircuitStats,
        DomainMetrics,
        ExecutionScopedQueue,
        OrchestratorManager,
        PipelineOrchestrator,
        ReactiveRouteProcessor,
        RouteMetrics,
        RouteState,
        TooManyConcurrentExecutionsError,
    )
    from .storage import (
        StageStorageAdapter,
        StageStorageResult,
        StorageBackendAdapter,
        StorageMetadataConfig,
        StorageMetadataField,
        build_embedding_metadata,
    )

_EXPORTS: dict[str, str] = {
    # runtime
    "OrchestratorManager": "runtime",
    "PipelineOrchestrator": "runtime",
    "ReactiveRouteProcessor": "runtime",
    "ExecutionScopedQueue": "runtime",
    "TooManyConcurrentExecutionsError": "runtime",
    "BackpressureController": "runtime",
    "CircuitBreaker": "runtime",
    "CircuitOpenError": "runtime",
    "CircuitState": "runtime",
    "CircuitStats": "runtime",
    "AdapterCircuitMetrics": "runtime",
    "DomainMetrics": "runtime",
    "RouteMetrics": "runtime",
    "RouteState": "runtime",
    # configuration and validation
    "PipelineConfigLoader": "config",
    "ConfigurationError": "config",
    "validate_route_config": "config",
    "configure_validation": "config",
    "ValidationIssue": "config",
    "ValidationReport": "config",
    "PipelineGlobalConfig": "config",
    "InitMessageConfig": "config",
    "OrchestratorConfig": "config",
    "ProcessorConfig": "config",
    "RouteConfig": "config",
    "AdapterConfig": "config",
    "ConditionConfig": "config",
    "InboundConfig": "config",
    "OutboundConfig": "config",
    "BackpressureConfig": "config",
    "ErrorHandlingConfig": "config",
    "CircuitBreakerConfig": "config",
    # conditions
    "ConditionOperator": "conditions",
    "OperatorRegistry": "conditions",
    # adapter registry
    "AdapterDiscovery": "registry",
    "auto_discover_and_register": "registry",
    "ValidatingAdapterRegistry": "registry",
    # stage storage
    "StageStorageAdapter": "storage",
    "StorageBackendAdapter": "storage",
    "StageStorageResult": "storage",
    "StorageMetadataConfig": "storage",
    "StorageMetadataField": "storage",
    "build_embedding_metadata": "storage",
    # seams with the layers above
    "OrchestratorCallbacks": "_ports",
    "EngineEventSink": "_ports",
    "PauseStateStore": "_ports",
    # re-exported adapter contract
    "PipelineAdapter": "factflow_protocols",
    "PipelineContext": "factflow_protocols",
    "AdapterResult": "factflow_protocols",
}

__all__ = (
    "OrchestratorManager",
    "PipelineOrchestrator",
    "ReactiveRouteProcessor",
    "ExecutionScopedQueue",
    "TooManyConcurrentExecutionsError",
    "BackpressureController",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "CircuitStats",
    "AdapterCircuitMetrics",
    "DomainMetrics",
    "RouteMetrics",
    "RouteState",
    "PipelineConfigLoader",
    "ConfigurationError",
    "validate_route_config",
    "configure_validation",
    "ValidationIssue",
    "ValidationReport",
    "PipelineGlobalConfig",
    "InitMessageConfig",
    "OrchestratorConfig",
    "ProcessorConfig",
    "RouteConfig",
    "AdapterConfig",
    "ConditionConfig",
    "InboundConfig",
    "OutboundConfig",
    "BackpressureConfig",
    "ErrorHandlingConfig",
    "CircuitBreakerConfig",
    "ConditionOperator",
    "OperatorRegistry",
    "AdapterDiscovery",
    "auto_discover_and_register",
    "ValidatingAdapterRegistry",
    "StageStorageAdapter",
    "StorageBackendAdapter",
    "StageStorageResult",
    "StorageMetadataConfig",
    "StorageMetadataField",
    "build_embedding_metadata",
    "OrchestratorCallbacks",
    "EngineEventSink",
    "PauseStateStore",
    "PipelineAdapter",
    "PipelineContext",
    "AdapterResult",
)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    target = module_name if module_name.startswith("factflow_") else f"{__name__}.{module_name}"
    module = importlib.import_module(target)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
