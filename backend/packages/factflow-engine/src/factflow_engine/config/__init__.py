"""Pipeline YAML: models, validation issues and the adapter-checker seam (docs/reference/pipeline-yaml.md)."""

from __future__ import annotations

# The loader pulls in the validator, which imports `factflow_engine.conditions`; keep it last.
from ._errors import ConfigurationError

# Import order matters: `factflow_engine.conditions` needs `_issues` and `_text` while this
# package is still initialising, so they come first.
from ._issues import Severity, ValidationIssue, ValidationReport
from ._loader import (
    LoadedPipeline,
    PipelineConfigLoader,
    configure_validation,
    is_strict_validation,
    validate_route_config,
)
from ._models import (
    DEFAULT_POOL,
    QUEUE_NAME_PATTERN,
    RESERVED_SIDECAR_FIELDS,
    ROUTE_ID_PATTERN,
    STAGE_SEGMENT_PATTERN,
    SUBSCRIPTION_PATTERN,
    AdapterConfig,
    AdapterStorageConfig,
    BackpressureConfig,
    CircuitBreakerConfig,
    ConditionConfig,
    ErrorHandlingConfig,
    InboundConfig,
    InitMessageConfig,
    OrchestratorConfig,
    OutboundConfig,
    PipelineGlobalConfig,
    ProcessorConfig,
    RouteConfig,
    StorageMetadataConfig,
    StorageMetadataField,
    normalize_queue_name,
)
from ._ports import AdapterConfigChecker
from ._positions import PositionMap
from ._snapshot import ConfigSnapshot
from ._yaml import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_NODES

__all__ = (
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
    # models
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
    # the execution's frozen config
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
)
