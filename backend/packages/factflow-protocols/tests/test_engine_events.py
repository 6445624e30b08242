from __future__ import annotations

import typing

import factflow_protocols
from factflow_protocols import (
    EngineEvent,
    ErrorInfo,
    ExecutionProgress,
    ExecutionStatusChanged,
    MessageDeadLettered,
    ReplayProgress,
    RouteStateChanged,
    StageChanged,
    StorageObjectCreated,
)


def test_the_union_is_closed_over_every_event_class() -> None:
    members = set(typing.get_args(EngineEvent))
    exported = {
        getattr(factflow_protocols, name)
        for name in factflow_protocols.__all__
        if isinstance(getattr(factflow_protocols, name), type) and hasattr(getattr(factflow_protocols, name), "data")
    }
    assert members == exported


def test_data_has_the_documented_fields_in_order() -> None:
    # docs/reference/http-api.md, "Execution events" and "Storage events".
    cases: list[tuple[EngineEvent, str, list[str]]] = [
        (
            ExecutionStatusChanged("failed", "running", ErrorInfo("start_failed", "boom", {"step": "routes"})),
            "execution.status",
            ["status", "previous_status", "error_info"],
        ),
        (
            ExecutionProgress(1, 1, 0, 0, 2, 0),
            "execution.progress",
            ["published", "handled", "in_flight", "dead_lettered", "completed_stages", "failed_stages"],
        ),
        (RouteStateChanged("r", "running", False), "route.state", ["route_id", "processor_state", "paused"]),
        (
            StageChanged("e", "c", None, "r", "echo", 0, "echo", "failed", 1.5, 1, None, {"error_type": "X"}),
            "stage.failed",
            [
                "entry_id",
                "correlation_id",
                "parent_correlation_id",
                "route_id",
                "adapter_name",
                "adapter_index",
                "stage_name",
                "stage_status",
                "duration_ms",
                "delivery_count",
                "storage_key",
                "error_info",
            ],
        ),
        (
            MessageDeadLettered("c", "r", None, "dlq.r", None),
            "message.dead_lettered",
            ["correlation_id", "route_id", "adapter_name", "dead_letter_queue", "error_info"],
        ),
        (
            StorageObjectCreated("k", "r", "s", "a", "c", "application/json", 3, "2025-03-01T09:30:12.345678Z"),
            "storage.object.created",
            ["key", "route_id", "stage", "adapter_name", "correlation_id", "content_type", "size", "created_at"],
        ),
        (
            ReplayProgress(3, 2, 1, "completed"),
            "replay.progress",
            ["objects_found", "objects_published", "objects_failed", "publish_status"],
        ),
    ]
    for event, event_type, fields in cases:
        assert event.event_type == event_type
        assert list(event.data()) == fields


def test_execution_status_serialises_its_error_info() -> None:
    event = ExecutionStatusChanged("failed", "running", ErrorInfo("start_failed", "boom"))
    assert event.data()["error_info"] == {"code": "start_failed", "message": "boom", "details": {}}
    assert ExecutionStatusChanged("running", None).data() == {
        "status": "running",
        "previous_status": None,
        "error_info": None,
    }
