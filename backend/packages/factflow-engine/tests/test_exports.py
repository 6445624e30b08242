from __future__ import annotations

import ast
import subprocess
import sys

import factflow_engine

SPEC_EXPORTS = {
    "OrchestratorManager",
    "PipelineOrchestrator",
    "ReactiveRouteProcessor",
    "ExecutionScopedQueue",
    "TooManyConcurrentExecutionsError",
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
    "AdapterDiscovery",
    "auto_discover_and_register",
    "ValidatingAdapterRegistry",
    "ConditionOperator",
    "OperatorRegistry",
    "BackpressureController",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "CircuitState",
    "CircuitStats",
    "AdapterCircuitMetrics",
    "DomainMetrics",
    "RouteMetrics",
    "RouteState",
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
}


def test_public_surface_is_exactly_the_spec_list() -> None:
    assert set(factflow_engine.__all__) == SPEC_EXPORTS


def test_every_exported_name_resolves() -> None:
    for name in factflow_engine.__all__:
        assert getattr(factflow_engine, name) is not None, name


def test_adapter_contract_is_the_protocols_one() -> None:
    import factflow_protocols

    assert factflow_engine.PipelineAdapter is factflow_protocols.PipelineAdapter


def test_importing_the_validator_does_not_load_the_runtime() -> None:
    code = (
        "import sys, factflow_engine.config, factflow_engine.registry; "
        "print(any(m.startswith('factflow_engine.runtime') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_lazy_map_and_all_agree() -> None:
    assert set(factflow_engine._EXPORTS) == set(factflow_engine.__all__)


def test_importing_the_engine_loads_no_driver_and_no_storage_layer() -> None:
    # The engine depends on foundation and protocols only; infra and lineage come with the
    # `testing` extra and are imported when a `PipelineHarness` is built, not before.
    code = (
        "import sys, factflow_engine, factflow_engine.runtime, factflow_engine.storage, factflow_engine.testing; "
        "[getattr(factflow_engine, name) for name in factflow_engine.__all__]; "
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(result.stdout))
    layers = {"factflow_infra", "factflow_lineage"}
    drivers = {"sqlalchemy", "alembic", "redis", "minio", "asyncpg", "aiosqlite"}
    assert loaded & (layers | drivers) == set()
    assert {"factflow_foundation", "factflow_protocols", "factflow_engine"} <= loaded
