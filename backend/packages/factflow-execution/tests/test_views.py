from __future__ import annotations

import json
from typing import Any

from factflow_execution.views import ExecutionStats, MessageCounts, RouteStatus

# Frozen stats as rows hold them (`pipeline_executions.stats`), written before the views existed.
STORED_STATS: dict[str, Any] = {
    "execution_id": "0190a000-0000-7000-8000-000000000001",
    "status": "completed",
    "computed_at": "2025-03-01T09:30:12.345678Z",
    "elapsed_ms": 1520.5,
    "message_counts": {"published": 3, "handled": 3, "in_flight": 0, "dead_lettered": 1, "tolerated_failures": 1},
    "stage_counts": {
        "total": 4,
        "pending": 0,
        "processing": 0,
        "completed": 3,
        "failed": 1,
        "skipped": 0,
        "cancelled": 0,
    },
    "success_rate": 0.75,
    "avg_duration_ms": 12.5,
    "throughput_per_second": 1.97,
    "adapters": [
        {
            "route_id": "first",
            "adapter_name": "echo",
            "adapter_index": 0,
            "stage_name": "echo",
            "count": 4,
            "pending": 0,
            "processing": 0,
            "completed": 3,
            "failed": 1,
            "skipped": 0,
            "cancelled": 0,
            "avg_duration_ms": 12.5,
            "max_duration_ms": 20.0,
        }
    ],
}


def test_stored_stats_load_and_serialise_byte_for_byte() -> None:
    stats = ExecutionStats.model_validate(STORED_STATS)
    assert stats.adapters[0].completed == 3 and stats.message_counts.dead_lettered == 1
    assert json.dumps(stats.model_dump(mode="json")) == json.dumps(STORED_STATS)


def test_message_counts_normalize_fills_zeros_and_keeps_known_keys() -> None:
    counts = MessageCounts.normalize({"published": 2, "in_flight": None, "other": 9}, tolerated_failures=3)
    assert counts.model_dump() == {
        "published": 2,
        "handled": 0,
        "in_flight": 0,
        "dead_lettered": 0,
        "tolerated_failures": 3,
    }
    assert MessageCounts.normalize(None).model_dump() == dict.fromkeys(MessageCounts.model_fields, 0)


def test_route_status_snapshot_item_is_the_short_form() -> None:
    route = RouteStatus(
        route_id="first",
        name="first",
        inbound_queue="in",
        outbound_queues=["mid"],
        scoped_queue="factflow:{e}:in",
        processor_state="running",
        paused=False,
        concurrency=None,
        in_flight=2,
        queue_depth=None,
        total_messages=0,
        completed=0,
        failed=0,
        cancelled=0,
        in_progress=0,
        avg_duration_ms=None,
    )
    assert route.snapshot_item() == {"route_id": "first", "processor_state": "running", "paused": False, "in_flight": 2}
