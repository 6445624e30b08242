"""What lineage says about one execution, condensed for recovery decisions (docs/guides/recovery.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from factflow_lineage import LineageRepository, PipelineLineageEntry
from factflow_protocols import LineageRecord

__all__ = ("LineageIndex", "RowFact")

_PAGE_SIZE = 5000
_OUTPUT_RESULTS = ("message", "emitted", "both")


@dataclass(frozen=True, slots=True)
class RowFact:
    """The facts of one lineage row that recovery looks at."""

    row_id: str
    adapter_index: int
    status: str
    result: str | None
    """`message`, `emitted`, `both` or `none` (completed rows)."""
    emitted_count: int
    dead_lettered: bool


def _fact(row_id: str, adapter_index: int, status: str, metadata: dict[str, Any]) -> RowFact:
    result = metadata.get("result")
    emitted = metadata.get("emitted_count")
    return RowFact(
        row_id=row_id,
        adapter_index=adapter_index,
        status=status,
        result=result if isinstance(result, str) else None,
        emitted_count=int(emitted) if isinstance(emitted, int) else 0,
        dead_lettered=bool(metadata.get("dead_lettered", False)),
    )


@dataclass(slots=True)
class LineageIndex:
    """The rows of one execution by (route, message), in memory.

    A message M is **finished** in route R when lineage shows a `completed` or `skipped` row at
    R's last adapter, a `completed` row with `result=none`, or a dead-lettered `failed` row.
    """

    execution_id: str
    rows: dict[tuple[str, str], list[RowFact]] = field(default_factory=dict)
    completed_ids: set[str] = field(default_factory=set)
    """Row ids of `completed` rows."""
    completed_stages: set[tuple[str, str, int]] = field(default_factory=set)
    """(route, message, adapter index) with a `completed` row."""
    dead_lettered: set[str] = field(default_factory=set)
    """Messages with a dead-lettered row."""
    unfinished: list[PipelineLineageEntry] = field(default_factory=list)
    """Rows still `pending` or `processing`: at recovery, invocations that died with the old process."""

    @classmethod
    async def load(cls, repository: LineageRepository, execution_id: str) -> LineageIndex:
        """Every row of `execution_id`, read page by page.

        Raises:
            DatabaseUnavailableError: the database is down.
        """
        index = cls(execution_id)
        offset = 0
        while True:
            rows, total = await repository.execution_rows(execution_id, limit=_PAGE_SIZE, offset=offset)
            index.add_entries(rows)
            offset += len(rows)
            if not rows or offset >= total:
                return index

    def add_entries(self, entries: Iterable[PipelineLineageEntry]) -> None:
        for entry in entries:
            if entry.stage_status in ("pending", "processing"):
                self.unfinished.append(entry)
            self._add(
                entry.route_id,
                entry.correlation_id,
                _fact(entry.id, entry.adapter_index, entry.stage_status, dict(entry.entry_metadata or {})),
            )

    def add_records(self, records: Iterable[LineageRecord]) -> None:
        for record in records:
            self._add(
                record.route_id,
                record.correlation_id,
                _fact(record.id, record.adapter_index, str(record.stage_status), dict(record.metadata)),
            )

    def _add(self, route_id: str, correlation_id: str, fact: RowFact) -> None:
        self.rows.setdefault((route_id, correlation_id), []).append(fact)
        if fact.status == "completed":
            self.completed_ids.add(fact.row_id)
            self.completed_stages.add((route_id, correlation_id, fact.adapter_index))
        if fact.status == "failed" and fact.dead_lettered:
            self.dead_lettered.add(correlation_id)

    # ------------------------------------------------------------------ questions

    def facts(self, route_id: str, message_id: str) -> list[RowFact]:
        return self.rows.get((route_id, message_id), [])

    def has_rows(self, route_id: str, message_id: str) -> bool:
        return (route_id, message_id) in self.rows

    def finished(self, route_id: str, message_id: str, last_index: int) -> bool:
        """Whether lineage shows `message_id` finished in `route_id` (see the class docstring)."""
        for fact in self.facts(route_id, message_id):
            if fact.adapter_index == last_index and fact.status in ("completed", "skipped"):
                return True
            if fact.status == "completed" and fact.result == "none":
                return True
            if fact.status == "failed" and fact.dead_lettered:
                return True
        return False

    def fanout_stage(self, route_id: str, message_id: str, start: int) -> int | None:
        """The first adapter index ≥ `start` where `message_id` fanned out (`emitted`/`both`), if any."""
        indices = [
            fact.adapter_index
            for fact in self.facts(route_id, message_id)
            if fact.status == "completed" and fact.result in ("emitted", "both") and fact.adapter_index >= start
        ]
        return min(indices) if indices else None

    def completed_outputs(self, route_id: str, index: int) -> list[tuple[str, RowFact]]:
        """(message, row) of every `completed` row with an output at adapter `index` of `route_id`."""
        return [
            (message_id, fact)
            for (route, message_id), facts in self.rows.items()
            if route == route_id
            for fact in facts
            if fact.adapter_index == index and fact.status == "completed" and fact.result in _OUTPUT_RESULTS
        ]
