"""Frozen result types of `LineageRepository` queries, each with its docs/reference/http-api.md shape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from factflow_foundation import rfc3339_or_none
from factflow_protocols import JSONObject, StageStatus

from ._model import PipelineLineageEntry

__all__ = (
    "AdapterStats",
    "BatchKind",
    "LineageBatch",
    "LineageChain",
    "LineageMessage",
    "LineageStats",
    "MessageStatus",
    "RouteMessageCounts",
    "StageCounts",
    "message_status",
)

MessageStatus = Literal["failed", "processing", "cancelled", "completed"]
"""Status of a whole message (docs/reference/http-api-endpoints.md `LineageMessage.status`)."""

BatchKind = Literal["replay", "adapter", "mixed"]
"""Which batch id matched the rows of a batch."""

_IN_PROGRESS = frozenset({StageStatus.PENDING, StageStatus.PROCESSING})


def message_status(statuses: Sequence[str]) -> MessageStatus:
    """A message's status from its rows' statuses.

    `failed` if any row failed; else `processing` if any is pending or processing; else
    `cancelled` if any was cancelled; else `completed`.
    """
    present = set(statuses)
    if StageStatus.FAILED in present:
        return "failed"
    if present & _IN_PROGRESS:
        return "processing"
    if StageStatus.CANCELLED in present:
        return "cancelled"
    return "completed"


@dataclass(frozen=True, slots=True)
class LineageMessage:
    """One message with all its rows (docs/reference/http-api-endpoints.md `LineageMessage`)."""

    correlation_id: str
    parent_correlation_id: str | None
    execution_id: str
    status: MessageStatus
    started_at: datetime
    """Earliest row start."""
    completed_at: datetime | None
    """Latest row completion; `None` while processing."""
    depth: int
    """0 = the addressed message, negative = ancestors, positive = descendants."""
    entries: tuple[PipelineLineageEntry, ...]
    """Rows by `adapter_index`, then `started_at`."""

    @classmethod
    def from_rows(cls, rows: Sequence[PipelineLineageEntry], *, depth: int = 0) -> LineageMessage:
        """Build the message from its rows (at least one, all of one correlation id)."""
        if not rows:
            raise ValueError("a lineage message needs at least one row")
        ordered = tuple(sorted(rows, key=lambda row: (row.adapter_index, row.started_at, row.id)))
        first = min(ordered, key=lambda row: (row.started_at, row.id))
        status = message_status([row.stage_status for row in ordered])
        finished = [row.completed_at for row in ordered if row.completed_at is not None]
        return cls(
            correlation_id=first.correlation_id,
            parent_correlation_id=next(
                (row.parent_correlation_id for row in ordered if row.parent_correlation_id), None
            ),
            execution_id=first.execution_id,
            status=status,
            started_at=first.started_at,
            completed_at=max(finished) if finished and status != "processing" else None,
            depth=depth,
            entries=ordered,
        )

    def to_api_dict(self) -> JSONObject:
        """The docs/reference/http-api-endpoints.md `LineageMessage` object."""
        return {
            "correlation_id": self.correlation_id,
            "parent_correlation_id": self.parent_correlation_id,
            "execution_id": self.execution_id,
            "status": self.status,
            "started_at": rfc3339_or_none(self.started_at),
            "completed_at": rfc3339_or_none(self.completed_at),
            "depth": self.depth,
            "entries": [entry.to_api_dict() for entry in self.entries],
        }


@dataclass(frozen=True, slots=True)
class LineageChain:
    """A message with its ancestors up to the root and its descendants (`get_lineage_chain`)."""

    correlation_id: str
    root_correlation_id: str
    """The topmost ancestor reached (the message itself when it has none)."""
    ancestors: tuple[LineageMessage, ...]
    """Root first."""
    message: LineageMessage
    descendants: tuple[LineageMessage, ...]
    """Breadth-first."""
    truncated: bool
    """`max_depth` or `max_messages` cut the chain short."""

    def to_api_dict(self) -> JSONObject:
        """The `get_lineage_chain` body."""
        return {
            "correlation_id": self.correlation_id,
            "root_correlation_id": self.root_correlation_id,
            "ancestors": [message.to_api_dict() for message in self.ancestors],
            "message": self.message.to_api_dict(),
            "descendants": [message.to_api_dict() for message in self.descendants],
            "truncated": self.truncated,
        }


@dataclass(frozen=True, slots=True)
class LineageBatch:
    """One page of the rows of a replay or adapter batch (`list_lineage_batch`)."""

    batch_id: str
    kind: BatchKind
    total: int
    """Rows matching over all pages."""
    entries: tuple[PipelineLineageEntry, ...]
    """This page, by `started_at`, then `id`."""


@dataclass(frozen=True, slots=True)
class AdapterStats:
    """Row counts of one route × adapter (docs/reference/http-api-endpoints.md `AdapterStats`)."""

    route_id: str
    adapter_name: str
    adapter_index: int
    stage_name: str
    count: int
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

    def to_api_dict(self) -> JSONObject:
        """The docs/reference/http-api-endpoints.md `AdapterStats` object."""
        return {
            "route_id": self.route_id,
            "adapter_name": self.adapter_name,
            "adapter_index": self.adapter_index,
            "stage_name": self.stage_name,
            "count": self.count,
            "pending": self.pending,
            "processing": self.processing,
            "completed": self.completed,
            "failed": self.failed,
            "skipped": self.skipped,
            "cancelled": self.cancelled,
            "avg_duration_ms": self.avg_duration_ms,
            "max_duration_ms": self.max_duration_ms,
        }


@dataclass(frozen=True, slots=True)
class LineageStats:
    """Per route × adapter row counts of one execution (`get_lineage_stats`)."""

    execution_id: str
    total: int
    """Rows of the execution."""
    rows: tuple[AdapterStats, ...]

    def to_api_dict(self) -> JSONObject:
        """The `get_lineage_stats` body."""
        return {"execution_id": self.execution_id, "total": self.total, "rows": [r.to_api_dict() for r in self.rows]}


@dataclass(frozen=True, slots=True)
class StageCounts:
    """Row counts of one execution per status (docs/reference/http-api-endpoints.md `ExecutionStats.stage_counts`)."""

    total: int = 0
    pending: int = 0
    processing: int = 0
    completed: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    avg_duration_ms: float | None = None
    """Mean duration of completed rows (`ExecutionStats.avg_duration_ms`); not part of `stage_counts`."""

    def to_api_dict(self) -> dict[str, int]:
        """The docs/reference/http-api.md `stage_counts` object."""
        return {
            "total": self.total,
            "pending": self.pending,
            "processing": self.processing,
            "completed": self.completed,
            "failed": self.failed,
            "skipped": self.skipped,
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True, slots=True)
class RouteMessageCounts:
    """The lineage part of docs/reference/http-api-endpoints.md `RouteStatus` for one route.

    Each distinct message with a row in the route counts once: `failed` if any of its rows
    there failed; else `in_progress` if any is pending or processing; else `cancelled` if any
    was cancelled; else `completed`. The four sum to `total_messages`.
    """

    route_id: str
    total_messages: int
    completed: int
    failed: int
    cancelled: int
    in_progress: int
    avg_duration_ms: float | None
    """Mean over the route's completed rows."""
