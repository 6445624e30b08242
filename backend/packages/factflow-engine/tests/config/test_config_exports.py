"""The public surface of `factflow_engine.config` is pinned, and it imports in any order."""

from __future__ import annotations

import subprocess
import sys

import pytest

import factflow_engine.config

EXPORTS = {
    # loading and validation
    "PipelineConfigLoader",
    "LoadedPipeline",
    "ConfigurationError",
    "configure_validation",
    "is_strict_validation",
    "validate_route_config",
    "PositionMap",
    "MAX_DOCUMENT_BYTES",
    "MAX_NODES",
    "MAX_DEPTH",
    # models (pipeline-yaml.md §9)
    "PipelineGlobalConfig",
    "InitMessageConfig",
    "OrchestratorConfig",
    "RouteConfig",
    "InboundConfig",
    "OutboundConfig",
    "AdapterConfig",
    "AdapterStorageConfig",
    "ConditionConfig",
    "ErrorHandlingConfig",
    "BackpressureConfig",
    "CircuitBreakerConfig",
    "StorageMetadataConfig",
    "StorageMetadataField",
    "ProcessorConfig",
    "normalize_queue_name",
    "ConfigSnapshot",
    "ROUTE_ID_PATTERN",
    "DEFAULT_POOL",
    "QUEUE_NAME_PATTERN",
    "SUBSCRIPTION_PATTERN",
    "STAGE_SEGMENT_PATTERN",
    "RESERVED_SIDECAR_FIELDS",
    # issues
    "Severity",
    "ValidationIssue",
    "ValidationReport",
    # registry seam
    "AdapterConfigChecker",
}


def test_public_surface_is_pinned() -> None:
    assert isinstance(factflow_engine.config.__all__, tuple)
    assert set(factflow_engine.config.__all__) == EXPORTS
    assert len(factflow_engine.config.__all__) == len(EXPORTS)
    for name in factflow_engine.config.__all__:
        assert getattr(factflow_engine.config, name) is not None


@pytest.mark.parametrize(
    "statement",
    [
        "import factflow_engine.config.codes",
        "from factflow_engine.conditions import evaluate_condition, validate_condition, OperatorRegistry, "
        "ConditionOperator",
        "import factflow_engine.conditions._validate",
    ],
)
def test_imports_in_a_fresh_interpreter(statement: str) -> None:
    # config and conditions import each other's private modules; any entry point must work.
    result = subprocess.run([sys.executable, "-c", statement], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
