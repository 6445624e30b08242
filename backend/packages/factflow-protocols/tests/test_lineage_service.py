from __future__ import annotations

import logging
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from factflow_foundation import content_hash
from factflow_protocols import (
    AdapterResult,
    LineageEventSink,
    LineageRecord,
    LineageService,
    LineageSink,
    NonRetryableError,
    StageChanged,
    StageInvocation,
    StageStatus,
    build_error_info,
)
from factflow_protocols._lineage_service import _evolve

START = datetime(2026, 3, 1, 9, 30, 0, 250000, tzinfo=UTC)
EVENT_FIELDS = {
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
}
PAYLOAD = {
    "url": "https://Example.org/Guide",
    "title": "Guide",
    "document_id": "doc-7",
    "origin": "sitemap",
    "body": "text",
    "nested": {"url": "ignored"},
}


class MemorySink:
    """Keeps every recorded row state (a `LineageSink` without a database)."""

    def __init__(self) -> None:
        self.records: list[LineageRecord] = []

    def record(self, entry: LineageRecord) -> None:
        self.records.append(entry)


class EventLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def emit(self, execution_id: str, event: StageChanged) -> None:
        self.events.append((execution_id, event.event_type, event.data()))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Harness:
    def __init__(self) -> None:
        self.sink = MemorySink()
        self.events = EventLog()
        self.clock = Clock()
        self.service = LineageService(self.sink, event_sink=self.events, clock=self.clock)


@pytest.fixture
def harness() -> Harness:
    return Harness()


INVOCATION = StageInvocation(
    execution_id="0195a000-0000-7000-8000-000000000e01",
    route_id="ingest",
    stage_name="parse/html",
    adapter_name="html_parser",
    adapter_index=1,
    correlation_id="0195a000-0000-7000-8000-000000000c01",
    parent_correlation_id="0195a000-0000-7000-8000-000000000c00",
    delivery_count=2,
    replay_batch_id="0195a000-0000-7000-8000-0000000000b1",
    trace_id="trace-1",
    recovered=True,
)


def test_the_sinks_match_their_protocols(harness: Harness) -> None:
    assert isinstance(harness.sink, LineageSink)
    assert isinstance(harness.events, LineageEventSink)


def test_begin_opens_a_processing_row_and_announces_it(harness: Harness) -> None:
    record = harness.service.begin(INVOCATION, PAYLOAD, entry_id="0195a000-0000-7000-8000-0000000000a1")

    assert harness.sink.records == [record]
    assert record.id == "0195a000-0000-7000-8000-0000000000a1"
    assert record.stage_status is StageStatus.PROCESSING
    assert (record.execution_id, record.route_id, record.stage_name) == (
        "0195a000-0000-7000-8000-000000000e01",
        "ingest",
        "parse/html",
    )
    assert (record.adapter_name, record.adapter_index) == ("html_parser", 1)
    assert (record.correlation_id, record.parent_correlation_id) == (
        INVOCATION.correlation_id,
        INVOCATION.parent_correlation_id,
    )
    assert (record.delivery_count, record.replay_batch_id) == (2, INVOCATION.replay_batch_id)
    assert record.started_at == START
    assert record.completed_at is None and record.duration_ms is None
    assert record.input_hash == content_hash(PAYLOAD)
    assert record.output_hash is None
    assert record.metadata == {
        "url": "https://Example.org/Guide",
        "title": "Guide",
        "document_id": "doc-7",
        "origin": "sitemap",
        "trace_id": "trace-1",
        "recovered": True,
        "attempts": 1,
    }

    [(execution_id, event_type, data)] = harness.events.events
    assert (execution_id, event_type) == (INVOCATION.execution_id, "stage.processing")
    assert set(data) == EVENT_FIELDS
    assert data == {
        "entry_id": record.id,
        "correlation_id": INVOCATION.correlation_id,
        "parent_correlation_id": INVOCATION.parent_correlation_id,
        "route_id": "ingest",
        "adapter_name": "html_parser",
        "adapter_index": 1,
        "stage_name": "parse/html",
        "stage_status": "processing",
        "duration_ms": None,
        "delivery_count": 2,
        "storage_key": None,
        "error_info": None,
    }


def test_begin_generates_an_id_and_leaves_out_absent_provenance(harness: Harness) -> None:
    plain = StageInvocation(
        execution_id="e", route_id="r", stage_name="s", adapter_name="a", adapter_index=0, correlation_id="c"
    )
    first = harness.service.begin(plain, {"body": 1})
    second = harness.service.begin(plain, {"body": 1})
    assert first.id != second.id
    assert first.metadata == {"attempts": 1}


def test_complete_with_a_message(harness: Harness) -> None:
    row = harness.service.begin(INVOCATION, PAYLOAD)
    harness.clock.advance(1.5)
    batch_id = "0195a000-0000-7000-8000-0000000000d1"
    done = harness.service.complete(
        row, AdapterResult(message={"text": "parsed"}, batch_id=batch_id), storage_key="executions/x/m.json"
    )

    assert done is not row and row.stage_status is StageStatus.PROCESSING  # records are never changed in place
    assert done.stage_status is StageStatus.COMPLETED
    assert done.output_hash == content_hash({"text": "parsed"})
    assert done.completed_at == START + timedelta(seconds=1.5)
    assert done.duration_ms == pytest.approx(1500.0)
    assert (done.storage_key, done.batch_id) == ("executions/x/m.json", batch_id)
    assert done.metadata["result"] == "message" and done.metadata["emitted_count"] == 0
    assert done.metadata["url"] == "https://Example.org/Guide"  # provenance is kept
    _, event_type, data = harness.events.events[-1]
    assert event_type == "stage.completed"
    assert (data["duration_ms"], data["storage_key"], data["stage_status"]) == (
        pytest.approx(1500.0),
        "executions/x/m.json",
        "completed",
    )


def test_fan_out_hashes_the_list_of_child_hashes(harness: Harness) -> None:
    children = [{"chunk": 0}, {"chunk": 1}, {"chunk": 2}]
    child_hashes = [content_hash(child) for child in children]

    fanned = harness.service.complete(harness.service.begin(INVOCATION, PAYLOAD), AdapterResult(emitted=children))
    assert fanned.output_hash == content_hash(child_hashes)
    assert (fanned.metadata["result"], fanned.metadata["emitted_count"]) == ("emitted", 3)

    both = harness.service.complete(
        harness.service.begin(INVOCATION, PAYLOAD), AdapterResult(message={"summary": 1}, emitted=children)
    )
    assert both.output_hash == content_hash([*child_hashes, content_hash({"summary": 1})])
    assert (both.metadata["result"], both.metadata["emitted_count"]) == ("both", 3)


@pytest.mark.parametrize("result", [None, AdapterResult()])
def test_completing_without_output(harness: Harness, result: AdapterResult | None) -> None:
    done = harness.service.complete(harness.service.begin(INVOCATION, PAYLOAD), result)
    assert done.output_hash is None
    assert (done.metadata["result"], done.metadata["emitted_count"]) == ("none", 0)
    assert done.stage_status is StageStatus.COMPLETED


def test_skip_passes_the_input_through(harness: Harness) -> None:
    skipped = harness.service.skip(INVOCATION, PAYLOAD)
    assert skipped.stage_status is StageStatus.SKIPPED
    assert skipped.output_hash == skipped.input_hash == content_hash(PAYLOAD)
    assert skipped.completed_at == skipped.started_at == START
    assert skipped.duration_ms == 0.0
    assert "attempts" not in skipped.metadata and skipped.metadata["url"] == "https://Example.org/Guide"
    assert [event for _, event, _ in harness.events.events] == ["stage.skipped"]


def test_waiting_for_a_retry_does_not_count_as_duration(harness: Harness) -> None:
    service, clock = harness.service, harness.clock
    row = service.begin(INVOCATION, PAYLOAD)
    clock.advance(0.5)
    row = service.set_pending(row, deferred_until=clock.now + timedelta(seconds=2), error=ConnectionError("reset"))
    assert row.stage_status is StageStatus.PENDING
    assert row.metadata["deferred_until"] == "2026-03-01T09:30:02.750000Z"
    assert row.metadata["deferred_ms"] == pytest.approx(2000.0)
    assert row.error_info is not None and row.error_info["error_type"] == "ConnectionError"
    assert row.error_info["attempts"] == 1 and row.error_info["retryable"] is True

    clock.advance(2)
    row = service.resume(row, attempt=2)
    assert row.stage_status is StageStatus.PROCESSING
    assert row.metadata["attempts"] == 2 and "deferred_until" not in row.metadata
    clock.advance(1)
    done = service.complete(row, AdapterResult(message={"ok": True}))
    assert done.duration_ms == pytest.approx(1500.0)  # 3.5 s wall, 2 s of it waiting
    assert [event for _, event, _ in harness.events.events] == [
        "stage.processing",
        "stage.pending",
        "stage.processing",
        "stage.completed",
    ]


def test_a_breaker_deferral_keeps_the_last_error_and_the_attempt(harness: Harness) -> None:
    row = harness.service.begin(INVOCATION, PAYLOAD)
    deferred = harness.service.set_pending(row, deferred_until=START + timedelta(seconds=30))
    assert deferred.error_info is None and deferred.metadata["attempts"] == 1
    assert deferred.metadata["deferred_ms"] == pytest.approx(30000.0)


def test_a_measured_duration_is_taken_as_given(harness: Harness) -> None:
    row = harness.service.begin(INVOCATION, PAYLOAD)
    harness.clock.advance(10)
    assert harness.service.complete(row, None, duration_ms=42.0).duration_ms == 42.0
    assert harness.service.cancel(row, duration_ms=7.0).duration_ms == 7.0


def test_fail_records_the_error_and_dead_lettering(harness: Harness) -> None:
    row = harness.service.resume(harness.service.begin(INVOCATION, PAYLOAD), attempt=3)
    try:
        raise ValueError("no title in page")
    except ValueError as exc:
        failed = harness.service.fail(row, error=exc)
    assert failed.stage_status is StageStatus.FAILED
    assert failed.completed_at == START
    assert failed.metadata["dead_lettered"] is True
    assert failed.error_info is not None
    assert failed.error_info["error_type"] == "ValueError"
    assert failed.error_info["message"] == "no title in page"
    assert failed.error_info["attempts"] == 3
    assert failed.error_info["retryable"] is True
    assert "no title in page" in failed.error_info["traceback"]
    _, event_type, data = harness.events.events[-1]
    assert event_type == "stage.failed" and data["error_info"] == failed.error_info


def test_fail_with_a_non_retryable_error_or_a_ready_error_info(harness: Harness) -> None:
    row = harness.service.begin(INVOCATION, PAYLOAD)
    non_retryable = harness.service.fail(row, error=NonRetryableError("bad input"))
    assert non_retryable.error_info is not None and non_retryable.error_info["retryable"] is False

    ready = harness.service.fail(
        row, error={"error_type": "max_deliveries_exceeded", "message": "delivered 6 times"}, retryable=False
    )
    assert ready.error_info == {
        "error_type": "max_deliveries_exceeded",
        "message": "delivered 6 times",
        "attempts": 1,
        "retryable": False,
    }


def test_tracebacks_are_cut_to_16_kib_keeping_the_end() -> None:
    try:
        raise RuntimeError("é" * 40_000 + " the end")
    except RuntimeError as exc:
        info = build_error_info(exc, attempts=2)
    assert len(info["traceback"].encode("utf-8")) <= 16 * 1024
    assert info["traceback"].rstrip().endswith("the end")
    assert (info["attempts"], info["retryable"]) == (2, True)


def test_cancel(harness: Harness) -> None:
    row = harness.service.begin(INVOCATION, PAYLOAD)
    harness.clock.advance(0.25)
    cancelled = harness.service.cancel(row)
    assert cancelled.stage_status is StageStatus.CANCELLED
    assert cancelled.completed_at == START + timedelta(seconds=0.25)
    assert cancelled.duration_ms == pytest.approx(250.0)
    assert harness.events.events[-1][1] == "stage.cancelled"


def test_a_failing_event_sink_or_recorder_never_breaks_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenEvents:
        def emit(self, execution_id: str, event: StageChanged) -> None:
            raise RuntimeError("hub down")

    class BrokenRecorder:
        def record(self, entry: LineageRecord) -> None:
            raise RuntimeError("buffer gone")

    sink = MemorySink()
    service = LineageService(sink, event_sink=BrokenEvents())
    with caplog.at_level(logging.ERROR, logger="factflow_protocols"):
        row = service.begin(INVOCATION, PAYLOAD)
        service.complete(row, None)
        LineageService(BrokenRecorder()).begin(INVOCATION, PAYLOAD)
    assert [record.stage_status for record in sink.records] == [StageStatus.PROCESSING, StageStatus.COMPLETED]
    messages = [record.getMessage() for record in caplog.records]
    assert sum("event sink failed" in message for message in messages) == 2
    assert sum("lineage recorder failed" in message for message in messages) == 1


def test_an_unhashable_payload_costs_only_the_hash(harness: Harness) -> None:
    row = harness.service.begin(INVOCATION, {"when": object(), "url": "u"})
    assert row.input_hash is None and row.metadata["url"] == "u"


def test_transitions_copy_every_field_of_a_row() -> None:
    # Transitions copy rows field by field (faster than dataclasses.replace); none may be lost.
    record = LineageRecord(
        id="r",
        correlation_id="c",
        parent_correlation_id="p",
        execution_id="e",
        route_id="route",
        adapter_name="a",
        adapter_index=3,
        stage_name="s",
        stage_status=StageStatus.PENDING,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        completed_at=datetime(2026, 1, 2, tzinfo=UTC),
        duration_ms=1.5,
        input_hash="sha256:i",
        output_hash="sha256:o",
        error_info={"message": "x"},
        replay_batch_id="rb",
        batch_id="b",
        delivery_count=4,
        storage_key="k",
        metadata={"attempts": 2},
    )
    assert _evolve(record) == record
    assert _evolve(record, duration_ms=2.0).duration_ms == 2.0
    defaults = {field.name for field in fields(LineageRecord) if getattr(record, field.name) == field.default}
    assert defaults == set(), "every field must hold a non-default value so a missed copy shows"
