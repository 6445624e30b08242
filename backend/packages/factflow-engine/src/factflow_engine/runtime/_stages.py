"""Lineage facts of adapter invocations: recorded rows, or counts alone when nothing stores them."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from factflow_foundation import new_id
from factflow_protocols import (
    AdapterResult,
    LineageEventSink,
    LineageRecord,
    LineageService,
    LineageSink,
    StageInvocation,
    StageStatus,
    build_error_info,
)

from ._delivery import Invocation

__all__ = ("CountedStages", "RecordedStages", "StageCounts", "StageFacts", "StageRow", "stage_facts")

logger = logging.getLogger(__name__)


class StageCounts:
    """Rows that reached `completed` and `failed` in this execution (`execution.progress`).

    `completed` and `failed` count this process's rows; a shared execution's control part adds the
    counts its worker processes reported (`set_reported`) in `total_completed` and `total_failed`.

    Args:
        on_change: Called after a count changed; a failure is logged, never raised.
    """

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.completed = 0
        self.failed = 0
        self.reported_completed = 0
        self.reported_failed = 0
        self._on_change = on_change

    @property
    def total_completed(self) -> int:
        return self.completed + self.reported_completed

    @property
    def total_failed(self) -> int:
        return self.failed + self.reported_failed

    def set_reported(self, *, completed: int, failed: int) -> None:
        """The other processes' counts, as they last reported them."""
        if (completed, failed) == (self.reported_completed, self.reported_failed):
            return
        self.reported_completed, self.reported_failed = completed, failed
        self._changed()

    def count(self, status: StageStatus) -> None:
        if status is StageStatus.COMPLETED:
            self.completed += 1
        elif status is StageStatus.FAILED:
            self.failed += 1
        else:
            return
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception:  # observers never break processing
                logger.exception("Stage count observer failed")


@dataclass(slots=True)
class StageRow:
    """One invocation's lineage row as the chain carries it between transitions."""

    id: str
    attempts: int = 1
    """Attempt within this delivery (1-based)."""
    record: LineageRecord | None = None
    """The row's current state when rows are recorded."""


class StageFacts(ABC):
    """The transitions of one invocation's row; never raises because of lineage."""

    @abstractmethod
    def begin(self, invocation: Invocation) -> StageRow:
        """A `processing` row for an adapter about to be called (attempt 1)."""

    @abstractmethod
    def skip(self, invocation: Invocation) -> None:
        """A `skipped` row: the condition was false and the input passes through."""

    @abstractmethod
    def pending(self, row: StageRow, *, deferred_until: datetime | None, error: BaseException | None = None) -> None:
        """The row waits for a retry (`error`) or an open breaker."""

    @abstractmethod
    def resume(self, row: StageRow, *, attempt: int) -> None:
        """Back to `processing` for `attempt`."""

    @abstractmethod
    def complete(
        self, row: StageRow, result: AdapterResult | None, *, storage_key: str | None, duration_ms: float
    ) -> str | None:
        """The row is `completed`; returns the continuing message's hash when one was computed."""

    @abstractmethod
    def fail(self, row: StageRow, *, error: BaseException, retryable: bool, duration_ms: float) -> dict[str, Any]:
        """The row is `failed` (dead-lettered); returns its `error_info`."""

    @abstractmethod
    def cancel(self, row: StageRow, *, duration_ms: float) -> None:
        """The row is `cancelled` (the execution stopped mid-invocation)."""


class RecordedStages(StageFacts):
    """Rows built by the `LineageService`, for a recorder and/or stage events.

    Args:
        service: Builds, records and announces the rows.
        execution_id: The execution.
        counts: Counts the rows reaching `completed` and `failed`.
    """

    def __init__(self, service: LineageService, *, execution_id: str, counts: StageCounts) -> None:
        self._service = service
        self._execution_id = execution_id
        self._counts = counts

    def _invocation(self, invocation: Invocation) -> StageInvocation:
        delivery, branch, slot = invocation.delivery, invocation.branch, invocation.slot
        return StageInvocation(
            execution_id=self._execution_id,
            route_id=invocation.route_id,
            stage_name=slot.stage,
            adapter_name=slot.adapter_name,
            adapter_index=slot.index,
            correlation_id=branch.message_id,
            parent_correlation_id=branch.parent_id,
            delivery_count=delivery.delivery_count,
            replay_batch_id=delivery.replay_batch_id,
            trace_id=delivery.trace_id,
            recovered=delivery.recovered,
        )

    def begin(self, invocation: Invocation) -> StageRow:
        record = self._service.begin(self._invocation(invocation), invocation.payload, input_hash=invocation.input_hash)
        return StageRow(id=record.id, record=record)

    def skip(self, invocation: Invocation) -> None:
        self._service.skip(self._invocation(invocation), invocation.payload, input_hash=invocation.input_hash)

    def pending(self, row: StageRow, *, deferred_until: datetime | None, error: BaseException | None = None) -> None:
        assert row.record is not None
        row.record = self._service.set_pending(row.record, deferred_until=deferred_until, error=error)

    def resume(self, row: StageRow, *, attempt: int) -> None:
        assert row.record is not None
        row.attempts = attempt
        row.record = self._service.resume(row.record, attempt=attempt)

    def complete(
        self, row: StageRow, result: AdapterResult | None, *, storage_key: str | None, duration_ms: float
    ) -> str | None:
        assert row.record is not None
        row.record = record = self._service.complete(
            row.record, result, storage_key=storage_key, duration_ms=duration_ms
        )
        self._counts.count(StageStatus.COMPLETED)
        # Only a plain continuing message has its own hash as the row's output hash.
        if result is not None and result.message is not None and not result.emitted:
            return record.output_hash
        return None

    def fail(self, row: StageRow, *, error: BaseException, retryable: bool, duration_ms: float) -> dict[str, Any]:
        assert row.record is not None
        row.record = record = self._service.fail(
            row.record, error=error, retryable=retryable, dead_lettered=True, duration_ms=duration_ms
        )
        self._counts.count(StageStatus.FAILED)
        return record.error_info or build_error_info(error, attempts=row.attempts, retryable=retryable)

    def cancel(self, row: StageRow, *, duration_ms: float) -> None:
        assert row.record is not None
        row.record = self._service.cancel(row.record, duration_ms=duration_ms)


class CountedStages(StageFacts):
    """No recorder and no event sink: nothing would read a row, so none is built; rows are counted.

    Each invocation still gets a fresh id (the adapter's `lineage_id`, the storage provenance).
    """

    def __init__(self, counts: StageCounts) -> None:
        self._counts = counts

    def begin(self, invocation: Invocation) -> StageRow:
        return StageRow(id=new_id())

    def skip(self, invocation: Invocation) -> None:
        return None

    def pending(self, row: StageRow, *, deferred_until: datetime | None, error: BaseException | None = None) -> None:
        return None

    def resume(self, row: StageRow, *, attempt: int) -> None:
        row.attempts = attempt

    def complete(
        self, row: StageRow, result: AdapterResult | None, *, storage_key: str | None, duration_ms: float
    ) -> str | None:
        self._counts.count(StageStatus.COMPLETED)
        return None

    def fail(self, row: StageRow, *, error: BaseException, retryable: bool, duration_ms: float) -> dict[str, Any]:
        self._counts.count(StageStatus.FAILED)
        return build_error_info(error, attempts=row.attempts, retryable=retryable)

    def cancel(self, row: StageRow, *, duration_ms: float) -> None:
        return None


def stage_facts(
    *,
    execution_id: str,
    counts: StageCounts,
    recorder: LineageSink | None,
    event_sink: LineageEventSink | None,
) -> StageFacts:
    """The stage facts an execution needs: full rows with a recorder, bare rows for events, or counts."""
    if recorder is None and event_sink is None:
        return CountedStages(counts)
    sink = recorder if recorder is not None else _NullRecorder()
    service = LineageService(sink, event_sink=event_sink, payload_facts=recorder is not None)
    return RecordedStages(service, execution_id=execution_id, counts=counts)


class _NullRecorder:
    def record(self, entry: LineageRecord) -> None:
        return None
