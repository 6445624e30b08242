from __future__ import annotations

import factflow_execution

# runtime.md §6 "Exports".
SPEC_EXPORTS = {
    "PipelineConfig",
    "PipelineExecution",
    "ConfigSourceType",
    "ReplaySource",
    "ExecutionStatus",
    "ExecutionStats",
    "AdapterStats",
    "RouteStatus",
    "DAGNode",
    "DAGEdge",
    "DAGResponse",
    "ExecutionService",
    "PipelineExecutionRepository",
    "PipelineConfigRepository",
    "RoutePauseRepository",
    "ExecutionWaiter",
    "ExecutionWaitResult",
    "ExecutionEventHub",
    "EventStamper",
    "ExecutionEventStreamer",
    "StorageEventStreamer",
    "ExecutionStatusCallbackAdapter",
    "ReplayCoordinator",
    "RouteWorkerLookup",
    "RouteWorkers",
    "ConfigValidationError",
}

EXTRAS = {
    # models, shapes and helpers
    "ExecutionSource",
    "FINAL_STATUSES",
    "STOPPED_STATUSES",
    "MessageCounts",
    "StageCounts",
    "ConcurrencyInfo",
    "DAGAdapter",
    "DAGOutbound",
    "WaitResult",
    "ReplayInfo",
    "StoredSnapshot",
    "build_dag",
    "deep_merge",
    "is_uuid_shaped",
    # services and seams
    "ExecutionLauncher",
    "ExecutionServices",
    "ExecutionStores",
    "ReplayFactory",
    "PipelineConfigService",
    "ExecutionManager",
    "ExecutionSlot",
    "StatusChangeResult",
    "RequestedStatus",
    "ExecutionLineagePage",
    "StatsCalculator",
    "build_snapshot",
    "ENGINE_VERSION",
    # rows and paging
    "PipelineConfigRow",
    "PipelineExecutionRow",
    "RoutePauseRow",
    "Page",
    "SortOrder",
    "ConfigState",
    "UNSET",
    "Unset",
    # streaming
    "HubSubscription",
    "ExecutionReader",
    "StreamEvent",
    "StreamEnd",
    "EndReason",
    "EventKind",
    # errors
    "YamlParseError",
    "ConfigNotFoundError",
    "ConfigInactiveError",
    "ConfigNameRequiredError",
    "VersionConflictError",
    "ExecutionNotFoundError",
    "TagConflictError",
    "InvalidStatusTransitionError",
    "ReplayUnavailableError",
    "SnapshotUnreadableError",
    "EventStreamerUnavailableError",
}


def test_public_surface_is_pinned() -> None:
    assert set(factflow_execution.__all__) == SPEC_EXPORTS | EXTRAS
    assert len(factflow_execution.__all__) == len(set(factflow_execution.__all__))


def test_every_export_exists() -> None:
    for name in factflow_execution.__all__:
        assert hasattr(factflow_execution, name), name


def test_error_codes_match_the_api_contract() -> None:
    expected = {
        "ConfigValidationError": "config_invalid",
        "YamlParseError": "yaml_parse_error",
        "ConfigNotFoundError": "config_not_found",
        "ConfigInactiveError": "config_inactive",
        "VersionConflictError": "version_conflict",
        "ExecutionNotFoundError": "execution_not_found",
        "TagConflictError": "tag_conflict",
        "InvalidStatusTransitionError": "invalid_status_transition",
        "EventStreamerUnavailableError": "event_streamer_unavailable",
    }
    for name, code in expected.items():
        assert getattr(factflow_execution, name).default_code == code


def test_enumerations() -> None:
    assert [m.value for m in factflow_execution.ConfigSourceType] == ["file", "api", "imported", "cli", "replay"]
    assert [m.value for m in factflow_execution.ReplaySource] == ["storage", "lineage", "manual"]
