"""Rows of `pipeline_executions`, with conditional status transitions (docs/concepts/executions.md)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_foundation import utc_now
from factflow_infra.database import keyset_after
from factflow_infra.errors import DatabaseIntegrityError
from factflow_protocols import ErrorInfo

from ._db import Page, session_scope
from ._models import PipelineExecution
from ._orm import PipelineExecutionRow
from ._stored_snapshot import StoredSnapshot
from ._types import ConfigSourceType, ExecutionStatus, is_uuid_shaped
from .errors import ExecutionNotFoundError, TagConflictError

__all__ = ("PipelineExecutionRepository", "SortOrder")

SortOrder = Literal["asc", "desc"]

_RUNNING: tuple[ExecutionStatus, ...] = ("running",)

# Columns a caller may set through `transition(values=...)`, by domain name → column attribute.
_SETTABLE = {
    "completed_at",
    "duration_ms",
    "error_info",
    "message_counts",
    "stats",
    "route_counts",
    "cancel_requested",
    "recovered_at",
    "recovery_count",
    "replay",
    "queues_purged_at",
    "dlq_purged_at",
    "metadata",
    "lineage_purged_at",
}

_DEEP_OFFSET = 1000
"""From this offset on, `list` finds the page's ids on the index before reading rows."""


def _to_domain(row: PipelineExecutionRow) -> PipelineExecution:
    return PipelineExecution(
        execution_id=row.id,
        config_id=row.config_id,
        config_name=row.config_name,
        config_version=row.config_version,
        status=row.status,  # type: ignore[arg-type]  # the column only ever holds ExecutionStatus values
        source=ConfigSourceType(row.source),
        started_at=row.started_at,
        stored_snapshot=StoredSnapshot(row.config_snapshot),
        tag=row.tag,
        parent_execution_id=row.parent_execution_id,
        replay_batch_id=row.replay_batch_id,
        replay_source=row.replay_source,
        completed_at=row.completed_at,
        duration_ms=row.duration_ms,
        error_info=row.error_info,
        root_correlation_id=row.root_correlation_id,
        init_payload=row.init_payload,
        metadata=dict(row.execution_metadata or {}),
        cancel_requested=row.cancel_requested,
        message_counts=row.message_counts,
        replay=row.replay,
        recovered_at=row.recovered_at,
        recovery_count=row.recovery_count,
        lineage_retention_days=row.lineage_retention_days,
        stats=row.stats,
        route_counts=row.route_counts,
        queues_purged_at=row.queues_purged_at,
        dlq_purged_at=row.dlq_purged_at,
        updated_at=row.updated_at,
    )


def _column_values(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - _SETTABLE
    if unknown:
        raise ValueError(f"cannot set {sorted(unknown)!r} through a transition")
    # `metadata` is reserved by SQLAlchemy; the attribute is `execution_metadata`.
    return {("execution_metadata" if key == "metadata" else key): value for key, value in values.items()}


class PipelineExecutionRepository:
    """CRUD for executions.

    Every status change is a conditional `UPDATE … WHERE status IN (…)` that reports whether a
    row changed; a caller that gets `False` lost a race and must do nothing more. Database
    failures raise `ServiceUnavailableError` (`database_unavailable`).

    Args:
        session_factory: Sessions on the factflow database.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    # ------------------------------------------------------------------ create and read

    async def insert(
        self, execution: PipelineExecution, *, lineage_retention_days: float | None = None
    ) -> PipelineExecution:
        """Insert a new row.

        Args:
            execution: The row's values.
            lineage_retention_days: The execution's own lineage retention in days (`None`: the
                server's `FACTFLOW_LINEAGE_RETENTION_DAYS`).

        Raises:
            TagConflictError: Another execution already has `execution.tag`.
        """
        now = utc_now()
        row = PipelineExecutionRow(
            id=execution.execution_id,
            config_id=execution.config_id,
            config_name=execution.config_name,
            config_version=execution.config_version,
            status=execution.status,
            source=str(execution.source),
            tag=execution.tag,
            parent_execution_id=execution.parent_execution_id,
            replay_batch_id=execution.replay_batch_id,
            replay_source=execution.replay_source,
            started_at=execution.started_at,
            completed_at=execution.completed_at,
            duration_ms=execution.duration_ms,
            error_info=execution.error_info,
            config_snapshot=execution.stored_snapshot.document,
            root_correlation_id=execution.root_correlation_id,
            init_payload=execution.init_payload,
            execution_metadata=dict(execution.metadata),
            cancel_requested=execution.cancel_requested,
            message_counts=execution.message_counts,
            replay=execution.replay,
            recovered_at=execution.recovered_at,
            recovery_count=execution.recovery_count,
            stats=execution.stats,
            route_counts=execution.route_counts,
            queues_purged_at=execution.queues_purged_at,
            dlq_purged_at=execution.dlq_purged_at,
            updated_at=now,
            lineage_retention_days=lineage_retention_days,
        )
        try:
            async with session_scope(self._sessions) as session:
                session.add(row)
                await session.flush()
                inserted = _to_domain(row)
        except DatabaseIntegrityError as exc:
            if execution.tag is not None and await self.find_by_tag(execution.tag) is not None:
                raise TagConflictError(
                    f"Tag {execution.tag!r} is already used by another execution.", context={"tag": execution.tag}
                ) from exc
            raise
        return inserted

    async def find(self, execution_id: str) -> PipelineExecution | None:
        """The execution with this id, or `None`."""
        async with session_scope(self._sessions) as session:
            row = await session.get(PipelineExecutionRow, execution_id)
            return _to_domain(row) if row is not None else None

    async def get(self, execution_id: str) -> PipelineExecution:
        """The execution with this id.

        Raises:
            ExecutionNotFoundError: No such execution.
        """
        execution = await self.find(execution_id)
        if execution is None:
            raise ExecutionNotFoundError(f"Execution {execution_id!r} does not exist.")
        return execution

    async def find_by_tag(self, tag: str) -> PipelineExecution | None:
        """The execution carrying this tag, or `None`."""
        async with session_scope(self._sessions) as session:
            row = (
                await session.execute(select(PipelineExecutionRow).where(PipelineExecutionRow.tag == tag))
            ).scalar_one_or_none()
            return _to_domain(row) if row is not None else None

    async def tag_exists(self, tag: str) -> bool:
        """Whether any execution carries this tag."""
        async with session_scope(self._sessions) as session:
            found = await session.execute(select(PipelineExecutionRow.id).where(PipelineExecutionRow.tag == tag))
            return found.first() is not None

    async def resolve(self, ref: str) -> PipelineExecution:
        """Look up an execution ref: a UUID-shaped value is an id, anything else a tag (docs/reference/http-api.md).

        Raises:
            ExecutionNotFoundError: Nothing matches.
        """
        if is_uuid_shaped(ref):
            execution = await self.find(str(uuid.UUID(ref)))
        else:
            execution = await self.find_by_tag(ref)
        if execution is None:
            raise ExecutionNotFoundError(f"Execution {ref!r} does not exist.", context={"ref": ref})
        return execution

    async def list(
        self,
        *,
        status: ExecutionStatus | Collection[ExecutionStatus] | None = None,
        config_id: str | None = None,
        parent_execution_id: str | None = None,
        tag: str | None = None,
        source: ConfigSourceType | str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        sort_order: SortOrder = "desc",
        limit: int = 100,
        offset: int = 0,
        after: tuple[datetime, str] | None = None,
    ) -> Page[PipelineExecution]:
        """Executions matching every given filter, by `started_at` then `id` (`list_executions`).

        Args:
            status: One status or several.
            config_id: Config id.
            parent_execution_id: Parent execution id (resolve refs first).
            tag: Exact tag.
            source: `api`, `cli` or `replay`.
            started_after: Inclusive lower bound of `started_at`.
            started_before: Exclusive upper bound of `started_at`.
            sort_order: `desc` (default) or `asc`.
            limit: Page size.
            offset: Rows to skip.
            after: Keyset paging: only rows after this `(started_at, id)` in the chosen order
                (`total` still counts every match).
        """
        conditions: list[ColumnElement[bool]] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            conditions.append(PipelineExecutionRow.status.in_(statuses))
        if config_id is not None:
            conditions.append(PipelineExecutionRow.config_id == config_id)
        if parent_execution_id is not None:
            conditions.append(PipelineExecutionRow.parent_execution_id == parent_execution_id)
        if tag is not None:
            conditions.append(PipelineExecutionRow.tag == tag)
        if source is not None:
            conditions.append(PipelineExecutionRow.source == str(source))
        if started_after is not None:
            conditions.append(PipelineExecutionRow.started_at >= started_after)
        if started_before is not None:
            conditions.append(PipelineExecutionRow.started_at < started_before)
        if sort_order == "asc":
            order = (PipelineExecutionRow.started_at.asc(), PipelineExecutionRow.id.asc())
        else:
            order = (PipelineExecutionRow.started_at.desc(), PipelineExecutionRow.id.desc())
        seek: list[ColumnElement[bool]] = []
        if after is not None:
            seek.append(
                keyset_after(
                    PipelineExecutionRow.started_at,
                    PipelineExecutionRow.id,
                    value=after[0],
                    row_id=after[1],
                    direction=sort_order,
                )
            )
        async with session_scope(self._sessions) as session:
            total = (
                await session.execute(select(func.count()).select_from(PipelineExecutionRow).where(*conditions))
            ).scalar_one()
            if offset < _DEEP_OFFSET:
                query = select(PipelineExecutionRow).where(*conditions, *seek).order_by(*order)
                rows = list((await session.execute(query.limit(limit).offset(offset))).scalars())
            else:
                # Skip on the narrow `(started_at, id)` index alone (an index-only scan), then read
                # only the page's rows: skipping whole rows (config snapshots and all) costs far more.
                id_query = select(PipelineExecutionRow.id).where(*conditions, *seek).order_by(*order)
                page_ids = list((await session.execute(id_query.limit(limit).offset(offset))).scalars())
                found = (
                    await session.execute(select(PipelineExecutionRow).where(PipelineExecutionRow.id.in_(page_ids)))
                ).scalars()
                by_id = {row.id: row for row in found}
                rows = [by_id[execution_id] for execution_id in page_ids if execution_id in by_id]
            return Page(items=tuple(_to_domain(row) for row in rows), total=int(total), limit=limit, offset=offset)

    async def children(self, parent_execution_id: str, *, limit: int = 100, offset: int = 0) -> Page[PipelineExecution]:
        """Executions whose parent is `parent_execution_id` (replays), newest first."""
        return await self.list(parent_execution_id=parent_execution_id, limit=limit, offset=offset)

    async def delete(self, execution_id: str, *, when_status: Collection[ExecutionStatus]) -> bool:
        """Delete the row while it is in one of `when_status`; whether a row was deleted."""
        async with session_scope(self._sessions) as session:
            result = await session.execute(
                delete(PipelineExecutionRow)
                .where(PipelineExecutionRow.id == execution_id, PipelineExecutionRow.status.in_(list(when_status)))
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of a DELETE

    # ------------------------------------------------------------------ transitions

    async def transition(
        self,
        execution_id: str,
        to_status: ExecutionStatus,
        *,
        from_statuses: Collection[ExecutionStatus],
        values: Mapping[str, Any] | None = None,
    ) -> bool:
        """`UPDATE … SET status = to_status WHERE id = … AND status IN from_statuses`.

        Args:
            execution_id: The execution.
            to_status: The new status.
            from_statuses: Statuses the row may be in for the change to apply.
            values: Other columns to set in the same statement (`completed_at`, `duration_ms`,
                `error_info`, `message_counts`, `stats`, `cancel_requested`, `recovered_at`,
                `recovery_count`, `replay`, `metadata`, `queues_purged_at`, `dlq_purged_at`).

        Returns:
            Whether a row changed; `False` means the row was not in `from_statuses` (or is gone).
        """
        columns = _column_values(values or {})
        async with session_scope(self._sessions) as session:
            result = await session.execute(
                update(PipelineExecutionRow)
                .where(PipelineExecutionRow.id == execution_id, PipelineExecutionRow.status.in_(list(from_statuses)))
                .values(status=to_status, updated_at=utc_now(), **columns)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE

    async def finish(
        self,
        execution_id: str,
        status: ExecutionStatus,
        *,
        from_statuses: Collection[ExecutionStatus] = _RUNNING,
        completed_at: datetime | None = None,
        error_info: ErrorInfo | None = None,
        message_counts: Mapping[str, Any] | None = None,
        stats: Mapping[str, Any] | None = None,
        route_counts: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move the row to a stopped status with `completed_at`, `duration_ms` and frozen figures.

        `duration_ms` is computed from the stored `started_at`. `message_counts`, `stats` and
        `route_counts` are written only when given (so earlier frozen values survive an admin update).

        Returns:
            Whether the row changed (see `transition`).
        """
        completed = completed_at or utc_now()
        async with session_scope(self._sessions) as session:
            started = (
                await session.execute(
                    select(PipelineExecutionRow.started_at).where(PipelineExecutionRow.id == execution_id)
                )
            ).scalar_one_or_none()
            if started is None:
                return False
            values: dict[str, Any] = {
                "completed_at": completed,
                "duration_ms": max((completed - started).total_seconds() * 1000.0, 0.0),
                "error_info": error_info.as_dict() if error_info is not None else None,
            }
            if message_counts is not None:
                values["message_counts"] = dict(message_counts)
            if stats is not None:
                values["stats"] = dict(stats)
            if route_counts is not None:
                values["route_counts"] = dict(route_counts)
            result = await session.execute(
                update(PipelineExecutionRow)
                .where(PipelineExecutionRow.id == execution_id, PipelineExecutionRow.status.in_(list(from_statuses)))
                .values(status=status, updated_at=utc_now(), **values)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE

    async def update_fields(
        self,
        execution_id: str,
        values: Mapping[str, Any],
        *,
        when_status: Collection[ExecutionStatus] | None = None,
    ) -> bool:
        """Set columns without changing the status (same names as `transition(values=...)`).

        Args:
            execution_id: The execution.
            values: Columns to set.
            when_status: Apply only while the row is in one of these statuses.

        Returns:
            Whether a row changed.
        """
        columns = _column_values(values)
        conditions: list[ColumnElement[bool]] = [PipelineExecutionRow.id == execution_id]
        if when_status is not None:
            conditions.append(PipelineExecutionRow.status.in_(list(when_status)))
        async with session_scope(self._sessions) as session:
            result = await session.execute(
                update(PipelineExecutionRow)
                .where(*conditions)
                .values(updated_at=utc_now(), **columns)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE

    async def request_cancel(self, execution_id: str) -> bool:
        """Set `cancel_requested` while the row is `running` or `interrupted`; whether it changed."""
        return await self.update_fields(
            execution_id, {"cancel_requested": True}, when_status=("running", "interrupted")
        )

    async def freeze_stats(
        self, execution_id: str, *, stats: Mapping[str, Any] | None, message_counts: Mapping[str, Any] | None
    ) -> bool:
        """Store the final stats and message counts on the row."""
        values: dict[str, Any] = {}
        if stats is not None:
            values["stats"] = dict(stats)
        if message_counts is not None:
            values["message_counts"] = dict(message_counts)
        if not values:
            return False
        return await self.update_fields(execution_id, values)

    async def update_replay(self, execution_id: str, replay: Mapping[str, Any]) -> bool:
        """Replace the `replay` (ReplayInfo) object."""
        return await self.update_fields(execution_id, {"replay": dict(replay)})

    async def interrupt_running(self) -> builtins.list[str]:
        """Mark every `running` row `interrupted` (start-up recovery, step 1); the ids changed."""
        async with session_scope(self._sessions) as session:
            ids = list(
                (
                    await session.execute(
                        select(PipelineExecutionRow.id).where(PipelineExecutionRow.status == "running")
                    )
                ).scalars()
            )
            if ids:
                await session.execute(
                    update(PipelineExecutionRow)
                    .where(PipelineExecutionRow.id.in_(ids), PipelineExecutionRow.status == "running")
                    .values(status="interrupted", updated_at=utc_now())
                    .execution_options(synchronize_session=False)
                )
            return ids

    async def running_ids(self) -> dict[str, bool]:
        """Every `running` execution id → its `cancel_requested` flag (what worker processes follow)."""
        async with session_scope(self._sessions) as session:
            rows = await session.execute(
                select(PipelineExecutionRow.id, PipelineExecutionRow.cancel_requested).where(
                    PipelineExecutionRow.status == "running"
                )
            )
            return {execution_id: bool(cancel_requested) for execution_id, cancel_requested in rows}

    async def resume(self, execution_id: str) -> bool:
        """`interrupted` → `running` for recovery: `recovery_count` +1, `recovered_at` now."""
        async with session_scope(self._sessions) as session:
            now = utc_now()
            result = await session.execute(
                update(PipelineExecutionRow)
                .where(PipelineExecutionRow.id == execution_id, PipelineExecutionRow.status == "interrupted")
                .values(
                    status="running",
                    recovered_at=now,
                    recovery_count=PipelineExecutionRow.recovery_count + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE
