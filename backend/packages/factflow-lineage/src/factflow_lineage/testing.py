"""Helpers for tests that need lineage rows in a database (ours and adapter authors')."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_protocols import LineageRecord, StageStatus

from ._model import PipelineLineageEntry
from ._recorder import LineageRecorder

__all__ = ("insert_entries", "record_of")


def record_of(entry: PipelineLineageEntry) -> LineageRecord:
    """The `LineageRecord` that stores `entry` as it is."""
    return LineageRecord(
        id=entry.id,
        correlation_id=entry.correlation_id,
        parent_correlation_id=entry.parent_correlation_id,
        execution_id=entry.execution_id,
        route_id=entry.route_id,
        adapter_name=entry.adapter_name,
        adapter_index=entry.adapter_index,
        stage_name=entry.stage_name,
        stage_status=StageStatus(entry.stage_status),
        started_at=entry.started_at,
        completed_at=entry.completed_at,
        duration_ms=entry.duration_ms,
        input_hash=entry.input_hash,
        output_hash=entry.output_hash,
        error_info=entry.error_info,
        replay_batch_id=entry.replay_batch_id,
        batch_id=entry.batch_id,
        delivery_count=entry.delivery_count,
        storage_key=entry.storage_key,
        metadata=dict(entry.entry_metadata),
    )


async def insert_entries(engine: AsyncEngine, entries: Iterable[PipelineLineageEntry]) -> None:
    """Write `entries` through a `LineageRecorder` on `engine` and wait until they are stored.

    Raises:
        RuntimeError: not every row could be written within 30 s.
    """
    async with LineageRecorder(engine) as recorder:
        for entry in entries:
            recorder.record(record_of(entry))
        if not await recorder.flush(timeout=30.0) or recorder.dropped_total:
            raise RuntimeError(f"lineage rows not written ({recorder.dropped_total} dropped)")
