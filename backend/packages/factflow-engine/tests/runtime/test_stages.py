"""Stage facts alone: recorded rows (hash once, payload facts only for a recorder) or counts."""

from __future__ import annotations

from typing import Any

from factflow_engine.config import AdapterConfig
from factflow_engine.runtime._context import AdapterSlot
from factflow_engine.runtime._delivery import Branch, Delivery, Invocation
from factflow_engine.runtime._stages import CountedStages, RecordedStages, StageCounts, stage_facts
from factflow_foundation import content_hash
from factflow_protocols import AdapterResult, LineageRecord, QueueMessage, StageChanged, StageStatus

EXEC = "0190a000-0000-7000-8000-000000000001"


class Recorder:
    def __init__(self) -> None:
        self.rows: list[LineageRecord] = []

    def record(self, entry: LineageRecord) -> None:
        self.rows.append(entry)


class Events:
    def __init__(self) -> None:
        self.types: list[str] = []

    def emit(self, execution_id: str, event: StageChanged) -> None:
        self.types.append(event.event_type)


def _invocation(payload: dict[str, Any], input_hash: str | None = None) -> Invocation:
    message = QueueMessage(payload=payload, metadata={"trace_id": "t"})
    delivery = Delivery(message, 1, 0, "t", None, False, None)
    slot = AdapterSlot(
        index=0,
        config=AdapterConfig(type="passthrough"),
        adapter=None,  # type: ignore[arg-type]  # stage facts never call the adapter
        breaker=None,  # type: ignore[arg-type]
        storage=None,  # type: ignore[arg-type]
    )
    return Invocation("r", delivery, Branch(message.id, None, payload, 0, {}), slot, payload, input_hash)


def test_without_recorder_or_events_only_counts_are_kept() -> None:
    counts = StageCounts()
    stages = stage_facts(execution_id=EXEC, counts=counts, recorder=None, event_sink=None)
    assert isinstance(stages, CountedStages)
    row = stages.begin(_invocation({"a": 1}))
    assert row.record is None and row.id
    assert stages.complete(row, AdapterResult(message={"b": 2}), storage_key=None, duration_ms=1.0) is None
    row = stages.begin(_invocation({"a": 1}))
    stages.resume(row, attempt=2)
    error_info = stages.fail(row, error=ValueError("x"), retryable=True, duration_ms=1.0)
    assert error_info["attempts"] == 2 and error_info["retryable"] is True
    assert (counts.completed, counts.failed) == (1, 1)


def test_a_recorder_gets_hashed_rows_and_each_payload_is_hashed_once() -> None:
    counts, recorder = StageCounts(), Recorder()
    stages = stage_facts(execution_id=EXEC, counts=counts, recorder=recorder, event_sink=None)
    assert isinstance(stages, RecordedStages)
    row = stages.begin(_invocation({"a": 1}))
    message_hash = stages.complete(row, AdapterResult(message={"b": 2}), storage_key="k", duration_ms=1.0)
    assert message_hash == content_hash({"b": 2})
    assert recorder.rows[0].input_hash == content_hash({"a": 1})
    assert recorder.rows[-1].output_hash == message_hash and recorder.rows[-1].stage_status is StageStatus.COMPLETED
    # The next stage takes the known hash instead of hashing the same payload again.
    stages.begin(_invocation({"b": 2}, input_hash="sha256:known"))
    assert recorder.rows[-1].input_hash == "sha256:known"
    assert counts.completed == 1


def test_a_fan_out_hands_on_no_message_hash() -> None:
    stages = stage_facts(execution_id=EXEC, counts=StageCounts(), recorder=Recorder(), event_sink=None)
    row = stages.begin(_invocation({"a": 1}))
    result = AdapterResult(message={"b": 2}, emitted=[{"c": 3}])
    assert stages.complete(row, result, storage_key=None, duration_ms=1.0) is None


def test_events_without_a_recorder_get_rows_without_payload_facts() -> None:
    events = Events()
    stages = stage_facts(execution_id=EXEC, counts=StageCounts(), recorder=None, event_sink=events)
    assert isinstance(stages, RecordedStages)
    row = stages.begin(_invocation({"url": "https://example.com"}))
    assert (
        row.record is not None
        and row.record.input_hash is None
        and row.record.metadata == {"trace_id": "t", "attempts": 1}
    )
    stages.complete(row, AdapterResult(message={"b": 2}), storage_key=None, duration_ms=1.0)
    assert row.record.output_hash is None and row.record.metadata["result"] == "message"
    assert events.types == ["stage.processing", "stage.completed"]


def test_reported_counts_of_other_processes_add_to_this_process_s() -> None:
    changes: list[int] = []
    counts = StageCounts(on_change=lambda: changes.append(counts.total_completed))
    counts.count(StageStatus.COMPLETED)
    counts.set_reported(completed=4, failed=1)
    counts.set_reported(completed=4, failed=1)  # unchanged: no notification
    assert (counts.total_completed, counts.total_failed) == (5, 1)
    assert (counts.completed, counts.failed) == (1, 0)
    assert changes == [1, 5]
