from __future__ import annotations

import factflow_engine.runtime as runtime
import factflow_engine.storage as storage
import factflow_engine.testing as testing


def test_runtime_exports() -> None:
    assert set(runtime.__all__) >= {
        "OrchestratorManager",
        "ExecutionReservation",
        "PipelineOrchestrator",
        "ReactiveRouteProcessor",
        "ExecutionScopedQueue",
        "SeedContext",
        "RuntimeOptions",
        "TooManyConcurrentExecutionsError",
        "ExecutionStartError",
        "BackpressureController",
        "CircuitBreaker",
        "CircuitOpenError",
        "CircuitState",
        "CircuitStats",
        "AdapterCircuitMetrics",
        "DomainMetrics",
        "RouteMetrics",
        "RouteState",
        "RouteRuntimeStatus",
        "MessageCounts",
    }
    assert len(runtime.__all__) == len(set(runtime.__all__))
    for name in runtime.__all__:
        assert getattr(runtime, name) is not None


def test_storage_exports() -> None:
    assert set(storage.__all__) >= {
        "StageStorageAdapter",
        "StorageBackendAdapter",
        "StageStorageResult",
        "StorageMetadataConfig",
        "StorageMetadataField",
        "build_embedding_metadata",
    }
    for name in storage.__all__:
        assert getattr(storage, name) is not None


def test_testing_exports() -> None:
    assert set(testing.__all__) == {
        "PipelineExecution",
        "PipelineHarness",
        "PipelineRunResult",
        "RecordedCallbacks",
        "RecordingEventSink",
        "StoredItem",
        "TEST_OPTIONS",
        "build_snapshot",
        "run_adapter",
        "run_pipeline",
    }
