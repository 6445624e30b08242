"""`LineageService`: the engine's facade that advances lineage rows and announces each change."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

from factflow_foundation import content_hash, new_id, rfc3339

from ._adapter import AdapterResult
from ._engine_events import StageChanged
from ._error_info import build_error_info
from ._json import JSONObject
from ._lineage import LineageEventSink, LineageRecord, LineageSink, StageInvocation, StageStatus

__all__ = ("LineageService",)

logger = logging.getLogger(__name__)

_PROVENANCE_KEYS: Final = ("url", "title", "document_id", "origin")
_PROVENANCE_MAX_CHARS: Final = 2048


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _hash(value: Any) -> str | None:
    try:
        return content_hash(value)
    except Exception:  # an unhashable payload costs the hash, never the message
        logger.debug("lineage could not hash a payload", exc_info=True)
        return None


def _provenance(payload: Mapping[str, Any]) -> JSONObject:
    """The input's top-level `url`, `title`, `document_id` and `origin`, when they are plain values."""
    found: JSONObject = {}
    try:
        for key in _PROVENANCE_KEYS:
            value = payload.get(key)
            if value is None:  # the usual case, decided without the type checks
                continue
            if isinstance(value, str):
                found[key] = value[:_PROVENANCE_MAX_CHARS]
            elif isinstance(value, int | float | bool):
                found[key] = value
    except Exception:  # a payload that is not a real mapping costs its provenance only
        logger.debug("lineage could not read provenance fields", exc_info=True)
    return found


def _evolve(record: LineageRecord, **changes: Any) -> LineageRecord:
    """A copy of `record` with `changes` applied.

    `dataclasses.replace` introspects the fields on every call; this runs at every row
    transition, so the copy is spelled out (a new field needs adding here; a test pins it).
    """
    copy = LineageRecord(
        id=record.id,
        correlation_id=record.correlation_id,
        parent_correlation_id=record.parent_correlation_id,
        execution_id=record.execution_id,
        route_id=record.route_id,
        adapter_name=record.adapter_name,
        adapter_index=record.adapter_index,
        stage_name=record.stage_name,
        stage_status=record.stage_status,
        started_at=record.started_at,
        completed_at=record.completed_at,
        duration_ms=record.duration_ms,
        input_hash=record.input_hash,
        output_hash=record.output_hash,
        error_info=record.error_info,
        replay_batch_id=record.replay_batch_id,
        batch_id=record.batch_id,
        delivery_count=record.delivery_count,
        storage_key=record.storage_key,
        metadata=record.metadata,
    )
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


class LineageService:
    """Builds and advances lineage rows for the engine, records them and emits `stage.<status>` events.

    Every method takes the current `LineageRecord` (from `begin`, or from the previous call)
    and returns the new one; records are never changed in place. The service keeps no state,
    never awaits, and never raises because of lineage: a failing event sink is logged and
    ignored, and the recorder drops rather than blocks.

    `duration_ms` excludes waiting: unless the caller passes the active time it measured, it is
    the wall time since `started_at` minus the waits announced to `set_pending` (`deferred_ms`).

    Args:
        recorder: Where row states go (`LineageRecorder`).
        event_sink: Receives `emit(execution_id, StageChanged(...))` per change; the event holds
            exactly the docs/reference/http-api.md fields.
        clock: Current UTC time; injectable for tests.
        payload_facts: Whether rows carry facts about the payloads (`input_hash`, `output_hash`,
            provenance fields). Off when the rows are only counted or announced, never stored:
            hashing is the largest part of a row's cost.

    Example:
        ```python
        row = lineage.begin(invocation, payload)
        result = await adapter.process(context)  # context.lineage_id = row.id
        row = lineage.complete(row, result, storage_key=stored.key)
        ```
    """

    def __init__(
        self,
        recorder: LineageSink,
        *,
        event_sink: LineageEventSink | None = None,
        clock: Callable[[], datetime] = _utc_now,
        payload_facts: bool = True,
    ) -> None:
        self._recorder = recorder
        self._event_sink = event_sink
        self._clock = clock
        self._payload_facts = payload_facts

    # ------------------------------------------------------------------ new rows

    def begin(
        self,
        invocation: StageInvocation,
        input_payload: Mapping[str, Any],
        *,
        entry_id: str | None = None,
        input_hash: str | None = None,
    ) -> LineageRecord:
        """Open a `processing` row for an adapter about to be called (attempt 1).

        `input_hash`, when the caller knows it (the previous stage's `output_hash` of the same
        payload), saves hashing the payload again.
        """
        record = self._new(invocation, input_payload, StageStatus.PROCESSING, entry_id, input_hash)
        record.metadata["attempts"] = 1
        return self._publish(record)

    def skip(
        self,
        invocation: StageInvocation,
        input_payload: Mapping[str, Any],
        *,
        entry_id: str | None = None,
        input_hash: str | None = None,
    ) -> LineageRecord:
        """Write a `skipped` row: the adapter's condition was false and the input passes through."""
        record = self._new(invocation, input_payload, StageStatus.SKIPPED, entry_id, input_hash)
        record.output_hash = record.input_hash
        record.completed_at = record.started_at
        record.duration_ms = 0.0
        return self._publish(record)

    def _new(
        self,
        invocation: StageInvocation,
        input_payload: Mapping[str, Any],
        status: StageStatus,
        entry_id: str | None,
        input_hash: str | None,
    ) -> LineageRecord:
        facts = self._payload_facts
        metadata = _provenance(input_payload) if facts else {}
        if facts and input_hash is None:
            input_hash = _hash(input_payload)
        if invocation.trace_id is not None:
            metadata["trace_id"] = invocation.trace_id
        if invocation.recovered:
            metadata["recovered"] = True
        return LineageRecord(
            id=entry_id or new_id(),
            correlation_id=invocation.correlation_id,
            parent_correlation_id=invocation.parent_correlation_id,
            execution_id=invocation.execution_id,
            route_id=invocation.route_id,
            adapter_name=invocation.adapter_name,
            adapter_index=invocation.adapter_index,
            stage_name=invocation.stage_name,
            stage_status=status,
            started_at=self._clock(),
            input_hash=input_hash,
            replay_batch_id=invocation.replay_batch_id,
            delivery_count=invocation.delivery_count,
            metadata=metadata,
        )

    # ------------------------------------------------------------------ transitions

    def set_pending(
        self,
        record: LineageRecord,
        *,
        deferred_until: datetime | None = None,
        error: BaseException | Mapping[str, Any] | None = None,
    ) -> LineageRecord:
        """Mark the row `pending`: it waits for a retry (`error` = the failure) or for an open breaker.

        `deferred_until` is stored in `metadata`, and the wait it implies is added to
        `metadata.deferred_ms`.
        """
        metadata = dict(record.metadata)
        if deferred_until is not None:
            metadata["deferred_until"] = rfc3339(deferred_until)
            wait_ms = max(0.0, (deferred_until - self._clock()).total_seconds() * 1000)
            metadata["deferred_ms"] = float(metadata.get("deferred_ms", 0.0)) + wait_ms
        error_info = record.error_info if error is None else self._error_info(record, error, None)
        return self._publish(
            _evolve(record, stage_status=StageStatus.PENDING, metadata=metadata, error_info=error_info)
        )

    def resume(self, record: LineageRecord, *, attempt: int) -> LineageRecord:
        """Back to `processing` after a wait; `attempt` is the attempt within this delivery (1-based)."""
        metadata = {key: value for key, value in record.metadata.items() if key != "deferred_until"}
        metadata["attempts"] = attempt
        return self._publish(_evolve(record, stage_status=StageStatus.PROCESSING, metadata=metadata))

    def complete(
        self,
        record: LineageRecord,
        result: AdapterResult | None,
        *,
        storage_key: str | None = None,
        duration_ms: float | None = None,
    ) -> LineageRecord:
        """Mark the row `completed` with the adapter's result (`None` = the chain ends here).

        `output_hash` is the message's hash; for a fan-out, the hash of the list of child hashes
        (followed by the message's own hash when it continues too); `None` without output.
        `storage_key` is the stored output or the fan-out manifest.
        """
        message = None if result is None else result.message
        emitted = [] if result is None else result.emitted
        outcome: Literal["message", "emitted", "both", "none"]
        if emitted:
            outcome = "emitted" if message is None else "both"
        else:
            outcome = "none" if message is None else "message"
        output_hash: str | None = None
        if not self._payload_facts or outcome == "none":
            pass
        elif emitted:
            child_hashes = [_hash(child) for child in emitted]
            hashes = child_hashes if message is None else [*child_hashes, _hash(message)]
            output_hash = None if None in hashes else _hash(hashes)
        else:
            output_hash = _hash(message)
        metadata = {**record.metadata, "result": outcome, "emitted_count": len(emitted)}
        metadata.pop("deferred_until", None)
        return self._finish(
            record,
            StageStatus.COMPLETED,
            duration_ms,
            output_hash=output_hash,
            storage_key=storage_key,
            batch_id=None if result is None else result.batch_id,
            error_info=None,  # a retried failure is history once the call succeeded (`metadata.attempts`)
            metadata=metadata,
        )

    def fail(
        self,
        record: LineageRecord,
        *,
        error: BaseException | Mapping[str, Any],
        retryable: bool | None = None,
        dead_lettered: bool = True,
        duration_ms: float | None = None,
    ) -> LineageRecord:
        """Mark the row `failed`: its retries ran out or it cannot be retried, and it was dead-lettered.

        `error` is the exception (turned into docs/reference/http-api.md `error_info`) or a ready `error_info` mapping.
        """
        metadata = {key: value for key, value in record.metadata.items() if key != "deferred_until"}
        metadata["dead_lettered"] = dead_lettered
        return self._finish(
            record,
            StageStatus.FAILED,
            duration_ms,
            error_info=self._error_info(record, error, retryable),
            metadata=metadata,
        )

    def cancel(self, record: LineageRecord, *, duration_ms: float | None = None) -> LineageRecord:
        """Mark the row `cancelled`: its execution was cancelled or the process is shutting down."""
        return self._finish(record, StageStatus.CANCELLED, duration_ms)

    # ------------------------------------------------------------------ helpers

    def _finish(
        self, record: LineageRecord, status: StageStatus, duration_ms: float | None, **changes: Any
    ) -> LineageRecord:
        now = self._clock()
        if duration_ms is None:
            waited_ms = float(record.metadata.get("deferred_ms", 0.0))
            duration_ms = max(0.0, (now - record.started_at).total_seconds() * 1000 - waited_ms)
        return self._publish(_evolve(record, stage_status=status, completed_at=now, duration_ms=duration_ms, **changes))

    def _error_info(
        self, record: LineageRecord, error: BaseException | Mapping[str, Any], retryable: bool | None
    ) -> JSONObject:
        attempts = int(record.metadata.get("attempts", 1))
        if isinstance(error, BaseException):
            return build_error_info(error, attempts=attempts, retryable=retryable)
        info = dict(error)
        info.setdefault("attempts", attempts)
        if retryable is not None:
            info["retryable"] = retryable
        return info

    def _publish(self, record: LineageRecord) -> LineageRecord:
        try:
            self._recorder.record(record)
        except Exception:  # the recorder promises not to raise; a stand-in might
            logger.exception("lineage recorder failed for row %r", record.id)
        if self._event_sink is not None:
            event = StageChanged(
                entry_id=record.id,
                correlation_id=record.correlation_id,
                parent_correlation_id=record.parent_correlation_id,
                route_id=record.route_id,
                adapter_name=record.adapter_name,
                adapter_index=record.adapter_index,
                stage_name=record.stage_name,
                stage_status=record.stage_status.value,
                duration_ms=record.duration_ms,
                delivery_count=record.delivery_count,
                storage_key=record.storage_key,
                error_info=record.error_info,
            )
            try:
                self._event_sink.emit(record.execution_id, event)
            except Exception:  # observers never break message processing
                logger.exception("event sink failed for stage event of row %r", record.id)
        return record
