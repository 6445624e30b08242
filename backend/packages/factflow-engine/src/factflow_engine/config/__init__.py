"""Pipeline YAML: models, validation issues and the adapter-checker seam (pipeline-yaml.md)."""

from __future__ import annotations

# Import order matters: `factflow_engine.conditions` needs `_issues` and `_text` while this
# package is still initialising, so they come first.
from ._issues import Severity, ValidationIssue, ValidationReport
from ._models import (
    QUEUE_NAME_PATTERN,
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

__all__ = (
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
    "ROUTE_ID_PATTERN",
    "QUEUE_NAME_PATTERN",
    "SUBSCRIPTION_PATTERN",
    "STAGE_SEGMENT_PATTERN",
    # issues
    "Severity",
    "ValidationIssue",
    "ValidationReport",
    # registry seam
    "AdapterConfigChecker",
)
