"""Counters and statistics of an execution: `MessageCounts`, `StageCounts`, `AdapterStats`, `ExecutionStats`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from factflow_foundation import Timestamp

from .._types import ExecutionStatus
from ._base import View

__all__ = ("AdapterStats", "ExecutionStats", "MessageCounts", "StageCounts")


class MessageCounts(View):
    """Completion counters (live while running, persisted at the end)."""

    published: int
    handled: int
    in_flight: int
    dead_lettered: int
    tolerated_failures: int

    @classmethod
    def normalize(cls, raw: Mapping[str, Any] | None, *, tolerated_failures: int = 0) -> MessageCounts:
        """Any counts mapping (from the manager or a row): known keys as ints, missing or null ones 0.

        `tolerated_failures` is the snapshot's value unless `raw` carries one.
        """
        values = dict.fromkeys(cls.model_fields, 0)
        values["tolerated_failures"] = tolerated_failures
        for key in cls.model_fields:
            if raw is not None and raw.get(key) is not None:
                values[key] = int(raw[key])
        return cls(**values)


class StageCounts(View):
    """Lineage row counts per status."""

    total: int
    pending: int
    processing: int
    completed: int
    failed: int
    skipped: int
    cancelled: int


class AdapterStats(View):
    """Lineage row counts of one adapter of one route."""

    route_id: str
    adapter_name: str
    adapter_index: int
    stage_name: str
    count: int
    """Rows in total."""
    pending: int
    processing: int
    completed: int
    failed: int
    skipped: int
    cancelled: int
    avg_duration_ms: float | None
    """Mean over completed rows."""
    max_duration_ms: float | None
    """Maximum over completed rows."""


class ExecutionStats(View):
    """E9 answer."""

    execution_id: str
    status: ExecutionStatus
    computed_at: Timestamp
    elapsed_ms: float
    """To `completed_at`, or now while running."""
    message_counts: MessageCounts
    stage_counts: StageCounts
    success_rate: float | None
    """`completed / (completed + failed)`; `None` when both are 0."""
    avg_duration_ms: float | None
    """Mean over completed rows."""
    throughput_per_second: float | None
    """Completed rows per elapsed second."""
    adapters: list[AdapterStats]
    """By route declaration order, then `adapter_index`."""
