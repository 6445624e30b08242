"""`LineageRepository`: every lineage query the API, the CLI and the engine need."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Integer, and_, case, delete, distinct, func, literal, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from factflow_infra.database import keyset_after
from factflow_infra.errors import DatabaseUnavailableError
from factflow_protocols import StageStatus

from ._model import PipelineLineageEntry
from ._results import (
    AdapterStats,
    LineageBatch,
    LineageChain,
    LineageMessage,
    LineageStats,
    RouteMessageCounts,
    StageCounts,
)

__all__ = ("DELETE_BATCH_ROWS", "LineageRepository", "LineageSortField", "SortOrder")

DELETE_BATCH_ROWS: Final = 5000
"""Rows one `DELETE` statement removes when an execution's lineage is deleted in batches."""

LineageSortField = Literal["started_at", "completed_at", "duration_ms", "route_id", "stage_name"]
"""Columns `GET /lineage` sorts by (ties by `id`)."""
SortOrder = Literal["asc", "desc"]

_Entry = PipelineLineageEntry
_Rows = list[PipelineLineageEntry]
_Page = tuple[list[PipelineLineageEntry], int]
_Messages = list[LineageMessage]

_SORT_COLUMNS: Final[dict[str, InstrumentedAttribute[Any]]] = {
    "started_at": _Entry.started_at,
    "completed_at": _Entry.completed_at,
    "duration_ms": _Entry.duration_ms,
    "route_id": _Entry.route_id,
    "stage_name": _Entry.stage_name,
}
_NULLABLE_SORT: Final = frozenset({"completed_at", "duration_ms"})
_STATUSES: Final = tuple(StageStatus)
_ID_CHUNK: Final = 1000
_ACTIVE: Final = (StageStatus.PENDING.value, StageStatus.PROCESSING.value)


def _metadata_text(key: str) -> ColumnElement[str]:
    """`metadata[key]` as text, on SQLite (JSON_EXTRACT) and PostgreSQL (->>) alike."""
    element: Any = _Entry.entry_metadata[key]  # the JSON comparator's `as_string` is untyped
    text_value: ColumnElement[str] = element.as_string()
    return text_value


def _contains(value: str) -> str:
    """A LIKE pattern matching `value` anywhere; LIKE's wildcards are escaped with a backslash."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _count_of(status: StageStatus) -> ColumnElement[int]:
    return func.sum(case((_Entry.stage_status == status.value, 1), else_=0))


def _completed_duration() -> ColumnElement[float]:
    return case((_Entry.stage_status == StageStatus.COMPLETED.value, _Entry.duration_ms))


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _ID_CHUNK):
        yield values[start : start + _ID_CHUNK]


class LineageRepository:
    """Read access to `pipeline_lineage`.

    Database failures surface as `DatabaseUnavailableError` (a `ServiceUnavailableError` with code
    `database_unavailable`); no SQLAlchemy or driver exception leaves this class. Methods that page take `limit` and
    `offset` as given — the API validates their bounds.

    Args:
        session_factory: Sessions on the application's engine (`factflow_infra.database.create_session_factory`).
        query_timeout: Seconds one call may take before it counts as the database being unavailable.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], *, query_timeout: float = 30.0) -> None:
        self._session_factory = session_factory
        self._timeout = query_timeout

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        try:
            async with asyncio.timeout(self._timeout), self._session_factory() as session:
                yield session
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            text = str(getattr(exc, "orig", None) or exc).strip()
            reason = text.splitlines()[0] if text else type(exc).__name__
            raise DatabaseUnavailableError(f"The lineage query failed: {reason}") from exc

    # ------------------------------------------------------------------ rows

    async def list(
        self,
        *,
        execution_id: str | None = None,
        route_id: str | None = None,
        adapter_name: str | None = None,
        stage_name: str | None = None,
        status: StageStatus | str | None = None,
        correlation_id: str | None = None,
        parent_correlation_id: str | None = None,
        is_root: bool | None = None,
        replay_batch_id: str | None = None,
        batch_id: str | None = None,
        url: str | None = None,
        title: str | None = None,
        origin: str | None = None,
        document_id: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        sort_by: LineageSortField = "started_at",
        sort_order: SortOrder = "asc",
        limit: int = 100,
        offset: int = 0,
        after: tuple[Any, str] | None = None,
    ) -> _Page:
        """Rows matching every given filter (`list_lineage`), one page, and the total over all pages.

        `url`, `title` and `origin` match a case-insensitive substring of that `metadata` field,
        `document_id` its exact value. `started_after` is inclusive, `started_before` exclusive.
        Rows without a value for `sort_by` come last in either order; ties go by `id`. `after`
        continues a keyset page after that `(sort value, id)`; `total` still counts every match.
        """
        conditions: list[ColumnElement[bool]] = []
        for column, value in (
            (_Entry.execution_id, execution_id),
            (_Entry.route_id, route_id),
            (_Entry.adapter_name, adapter_name),
            (_Entry.stage_name, stage_name),
            (_Entry.stage_status, None if status is None else str(status)),
            (_Entry.correlation_id, correlation_id),
            (_Entry.parent_correlation_id, parent_correlation_id),
            (_Entry.replay_batch_id, replay_batch_id),
            (_Entry.batch_id, batch_id),
        ):
            if value is not None:
                conditions.append(column == value)
        if is_root is not None:
            parent = _Entry.parent_correlation_id
            conditions.append(parent.is_(None) if is_root else parent.is_not(None))
        for key, needle in (("url", url), ("title", title), ("origin", origin)):
            if needle is not None:
                conditions.append(_metadata_text(key).ilike(_contains(needle), escape="\\"))
        if document_id is not None:
            conditions.append(_metadata_text("document_id") == document_id)
        if started_after is not None:
            conditions.append(_Entry.started_at >= started_after)
        if started_before is not None:
            conditions.append(_Entry.started_at < started_before)

        column = _SORT_COLUMNS[sort_by]
        if sort_order == "desc":
            order = (column.desc().nulls_last(), _Entry.id.desc())
        else:
            order = (column.asc().nulls_last(), _Entry.id.asc())
        seek = self._seek(column, after, sort_order, nullable=sort_by in _NULLABLE_SORT)
        return await self._page(conditions, order, limit, offset, seek=seek)

    @staticmethod
    def _seek(
        column: Any, after: tuple[Any, str] | None, direction: SortOrder, *, nullable: bool
    ) -> tuple[ColumnElement[bool], ...]:
        if after is None:
            return ()
        value, row_id = after
        return (keyset_after(column, _Entry.id, value=value, row_id=row_id, direction=direction, nullable=nullable),)

    async def _page(
        self,
        conditions: Sequence[ColumnElement[bool]],
        order: Sequence[Any],
        limit: int,
        offset: int,
        *,
        seek: Sequence[ColumnElement[bool]] = (),
    ) -> _Page:
        async with self._session() as session:
            total = await session.scalar(select(func.count()).select_from(_Entry).where(*conditions))
            rows = await session.scalars(
                select(_Entry).where(*conditions, *seek).order_by(*order).limit(limit).offset(offset)
            )
            return list(rows), int(total or 0)

    async def get(self, correlation_id: str) -> _Rows:
        """Every row of one message, across routes, by `adapter_index`, then `started_at`."""
        async with self._session() as session:
            return await self._rows_of(session, [correlation_id])

    async def get_entry(self, entry_id: str) -> PipelineLineageEntry | None:
        """One row by its id."""
        async with self._session() as session:
            return await session.get(_Entry, entry_id)

    async def resolve(self, lineage_id: str) -> str | None:
        """The correlation id that `lineage_id` names: a row's (when it is a row id), else itself if it has rows."""
        async with self._session() as session:
            found = await session.scalar(select(_Entry.correlation_id).where(_Entry.id == lineage_id))
            if found is not None:
                return found
            exists = await session.scalar(select(_Entry.id).where(_Entry.correlation_id == lineage_id).limit(1))
            return lineage_id if exists is not None else None

    async def rows_for_message(self, correlation_id: str, route_id: str) -> _Rows:
        """The rows of one message in one route, in one query (the engine's resume walk)."""
        query = (
            select(_Entry)
            .where(_Entry.correlation_id == correlation_id, _Entry.route_id == route_id)
            .order_by(_Entry.adapter_index, _Entry.started_at, _Entry.id)
        )
        async with self._session() as session:
            return list(await session.scalars(query))

    async def execution_rows(
        self, execution_id: str, *, limit: int = 1000, offset: int = 0, after: tuple[Any, str] | None = None
    ) -> _Page:
        """One page of an execution's rows by `started_at`, then `id` (`list_execution_lineage`).

        `after` continues a keyset page after that `(started_at, id)`.
        """
        seek = self._seek(_Entry.started_at, after, "asc", nullable=False)
        return await self._page(
            [_Entry.execution_id == execution_id], (_Entry.started_at, _Entry.id), limit, offset, seek=seek
        )

    async def failures(
        self,
        *,
        execution_id: str | None = None,
        route_id: str | None = None,
        adapter_name: str | None = None,
        started_after: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
        after: tuple[Any, str] | None = None,
    ) -> _Page:
        """Failed rows, newest `completed_at` first; `execution_id=None` means all executions.

        `after` continues a keyset page after that `(completed_at, id)`.
        """
        conditions: list[ColumnElement[bool]] = [_Entry.stage_status == StageStatus.FAILED.value]
        if execution_id is not None:
            conditions.append(_Entry.execution_id == execution_id)
        if route_id is not None:
            conditions.append(_Entry.route_id == route_id)
        if adapter_name is not None:
            conditions.append(_Entry.adapter_name == adapter_name)
        if started_after is not None:
            conditions.append(_Entry.started_at >= started_after)
        order = (_Entry.completed_at.desc().nulls_last(), _Entry.id.desc())
        seek = self._seek(_Entry.completed_at, after, "desc", nullable=True)
        return await self._page(conditions, order, limit, offset, seek=seek)

    async def delete_execution_rows(
        self, execution_id: str, *, batch_size: int = DELETE_BATCH_ROWS, pause_seconds: float = 0.05
    ) -> int:
        """Delete every lineage row of one execution, `batch_size` rows per statement; the rows deleted.

        Each batch is its own short transaction followed by a pause of `pause_seconds`, so the
        lineage writer and readers never wait long behind it (PostgreSQL and SQLite alike).
        """
        deleted = 0
        while True:
            batch = select(_Entry.id).where(_Entry.execution_id == execution_id).limit(batch_size).scalar_subquery()
            async with self._session() as session, session.begin():
                result = await session.execute(
                    delete(_Entry).where(_Entry.id.in_(batch)).execution_options(synchronize_session=False)
                )
            count = int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult of a DELETE
            deleted += count
            if count < batch_size:
                return deleted
            await asyncio.sleep(pause_seconds)

    async def batch(self, batch_id: str, *, limit: int = 1000, offset: int = 0) -> LineageBatch | None:
        """Rows whose `replay_batch_id` or `batch_id` is `batch_id`; `None` when there are none."""
        matches = or_(_Entry.replay_batch_id == batch_id, _Entry.batch_id == batch_id)
        counts = select(
            func.count(),
            func.sum(case((_Entry.replay_batch_id == batch_id, 1), else_=0)),
            func.sum(case((_Entry.batch_id == batch_id, 1), else_=0)),
        ).where(matches)
        page = select(_Entry).where(matches).order_by(_Entry.started_at, _Entry.id).limit(limit).offset(offset)
        async with self._session() as session:
            total, by_replay, by_adapter = (await session.execute(counts)).one()
            if not total:
                return None
            entries = tuple(await session.scalars(page))
        kind: Literal["replay", "adapter", "mixed"]
        kind = "mixed" if by_replay and by_adapter else ("replay" if by_replay else "adapter")
        return LineageBatch(batch_id=batch_id, kind=kind, total=int(total), entries=entries)

    # ------------------------------------------------------------------ messages

    async def message(self, correlation_id: str, *, depth: int = 0) -> LineageMessage | None:
        """One message with all its rows (`get_lineage_message`), or `None` when it has no rows."""
        async with self._session() as session:
            messages = await self._messages(session, {correlation_id: depth})
        return messages[0] if messages else None

    async def children(self, correlation_id: str, *, limit: int = 100, offset: int = 0) -> tuple[_Messages, int]:
        """One page of the direct children of a message, by first `started_at`, and their total."""
        is_child = _Entry.parent_correlation_id == correlation_id
        first_started = func.min(_Entry.started_at)
        page = (
            select(_Entry.correlation_id)
            .where(is_child)
            .group_by(_Entry.correlation_id)
            .order_by(first_started, _Entry.correlation_id)
            .limit(limit)
            .offset(offset)
        )
        async with self._session() as session:
            total = await session.scalar(select(func.count(distinct(_Entry.correlation_id))).where(is_child))
            child_ids = list(await session.scalars(page))
            messages = await self._messages(session, dict.fromkeys(child_ids, 1))
        order = {child_id: position for position, child_id in enumerate(child_ids)}
        messages.sort(key=lambda message: order[message.correlation_id])
        return messages, int(total or 0)

    async def chain(
        self, correlation_id: str, *, max_depth: int = 100, max_messages: int = 1000
    ) -> LineageChain | None:
        """A message with its ancestors up to the root (across executions) and its descendants (`get_lineage_chain`).

        `max_depth` bounds each direction, `max_messages` the total (ancestors are kept before
        descendants); `truncated` says either bound cut something off. `None` when the message
        has no rows.
        """
        async with self._session() as session:
            ancestors = await self._walk(session, correlation_id, upward=True, max_depth=max_depth, limit=max_messages)
            descendants = await self._walk(
                session, correlation_id, upward=False, max_depth=max_depth, limit=max_messages
            )
            truncated = any(depth > max_depth for depth in ancestors.values()) or any(
                depth > max_depth for depth in descendants.values()
            )
            wanted: dict[str, int] = {correlation_id: 0}
            for ancestor_id, depth in sorted(ancestors.items(), key=lambda item: item[1]):
                if depth <= max_depth and ancestor_id not in wanted:
                    if len(wanted) >= max_messages:
                        truncated = True
                        break
                    wanted[ancestor_id] = -depth
            for descendant_id, depth in sorted(descendants.items(), key=lambda item: (item[1], item[0])):
                if depth <= max_depth and descendant_id not in wanted:
                    if len(wanted) >= max_messages:
                        truncated = True
                        break
                    wanted[descendant_id] = depth
            messages = await self._messages(session, wanted)
        by_depth = sorted(messages, key=lambda message: (message.depth, message.started_at, message.correlation_id))
        message = next((m for m in by_depth if m.depth == 0), None)
        if message is None:
            return None
        upward = tuple(m for m in by_depth if m.depth < 0)
        return LineageChain(
            correlation_id=correlation_id,
            root_correlation_id=upward[0].correlation_id if upward else correlation_id,
            ancestors=upward,
            message=message,
            descendants=tuple(m for m in by_depth if m.depth > 0),
            truncated=truncated,
        )

    async def _walk(
        self, session: AsyncSession, correlation_id: str, *, upward: bool, max_depth: int, limit: int
    ) -> dict[str, int]:
        """Ancestors (`upward`) or descendants of a message with their distance, by a recursive CTE.

        Goes one level past `max_depth` and returns up to `limit + 1` ids nearest first, so the
        caller can tell whether anything was cut off.
        """
        columns = PipelineLineageEntry.__table__.c
        message, parent = columns.correlation_id, columns.parent_correlation_id
        start, step_to, step_from = (message, parent, message) if upward else (parent, message, parent)
        anchor = select(step_to.label("cid"), literal(1, Integer).label("depth")).where(
            start == correlation_id, step_to.is_not(None)
        )
        walk = anchor.cte("lineage_walk", recursive=True)
        step = (
            select(step_to, walk.c.depth + 1)
            .join(walk, step_from == walk.c.cid)
            .where(step_to.is_not(None), walk.c.depth <= max_depth)
        )
        # UNION folds the rows a message has in several routes into one step; the depth bound
        # ends the walk even on a (corrupt) cycle of parent links.
        walk = walk.union(step)
        nearest = func.min(walk.c.depth).label("depth")
        query = select(walk.c.cid, nearest).group_by(walk.c.cid).order_by(nearest, walk.c.cid).limit(limit + 1)
        return {cid: depth for cid, depth in (await session.execute(query)).all() if cid != correlation_id}

    async def _rows_of(self, session: AsyncSession, correlation_ids: Collection[str]) -> _Rows:
        rows: _Rows = []
        for chunk in _chunks(list(correlation_ids)):
            query = (
                select(_Entry)
                .where(_Entry.correlation_id.in_(chunk))
                .order_by(_Entry.adapter_index, _Entry.started_at, _Entry.id)
            )
            rows.extend(await session.scalars(query))
        return rows

    async def _messages(self, session: AsyncSession, depths: dict[str, int]) -> _Messages:
        """`LineageMessage`s of the given correlation ids (those with rows), each at its depth."""
        grouped: dict[str, _Rows] = {}
        for row in await self._rows_of(session, depths):
            grouped.setdefault(row.correlation_id, []).append(row)
        return [LineageMessage.from_rows(rows, depth=depths[cid]) for cid, rows in grouped.items()]

    # ------------------------------------------------------------------ aggregates

    async def stats(self, execution_id: str, *, route_order: Sequence[str] = ()) -> LineageStats:
        """Counts per status and durations of completed rows per route × adapter (`get_lineage_stats`).

        Rows are ordered by `route_order` (the snapshot's declaration order, when the caller has
        it), other routes after those by when they first ran, then by `adapter_index`.
        """
        duration = _completed_duration()
        query = (
            select(
                _Entry.route_id,
                _Entry.adapter_name,
                _Entry.adapter_index,
                _Entry.stage_name,
                func.count(),
                *(_count_of(status) for status in _STATUSES),
                func.avg(duration),
                func.max(duration),
                func.min(_Entry.started_at),
            )
            .where(_Entry.execution_id == execution_id)
            .group_by(_Entry.route_id, _Entry.adapter_name, _Entry.adapter_index, _Entry.stage_name)
        )
        async with self._session() as session:
            result = (await session.execute(query)).all()
        route_started: dict[str, datetime] = {}
        adapters: list[tuple[datetime, AdapterStats]] = []
        for route, adapter_name, adapter_index, stage_name, count, *rest in result:
            by_status = dict(zip(_STATUSES, (int(value or 0) for value in rest[: len(_STATUSES)]), strict=True))
            avg_ms, max_ms, first_started = rest[len(_STATUSES) :]
            route_started[route] = min(first_started, route_started.get(route, first_started))
            adapters.append(
                (
                    first_started,
                    AdapterStats(
                        route_id=route,
                        adapter_name=adapter_name,
                        adapter_index=adapter_index,
                        stage_name=stage_name,
                        count=int(count),
                        pending=by_status[StageStatus.PENDING],
                        processing=by_status[StageStatus.PROCESSING],
                        completed=by_status[StageStatus.COMPLETED],
                        failed=by_status[StageStatus.FAILED],
                        skipped=by_status[StageStatus.SKIPPED],
                        cancelled=by_status[StageStatus.CANCELLED],
                        avg_duration_ms=None if avg_ms is None else float(avg_ms),
                        max_duration_ms=None if max_ms is None else float(max_ms),
                    ),
                )
            )
        declared = {route: position for position, route in enumerate(route_order)}

        def position(item: tuple[datetime, AdapterStats]) -> tuple[int, datetime, str, int, datetime]:
            first_started, stats = item
            route = stats.route_id
            return (declared.get(route, len(declared)), route_started[route], route, stats.adapter_index, first_started)

        rows = tuple(stats for _, stats in sorted(adapters, key=position))
        return LineageStats(execution_id=execution_id, total=sum(row.count for row in rows), rows=rows)

    async def stage_counts(self, execution_id: str) -> StageCounts:
        """Row counts of an execution per status, and the mean duration of its completed rows."""
        query = select(
            func.count(), *(_count_of(status) for status in _STATUSES), func.avg(_completed_duration())
        ).where(_Entry.execution_id == execution_id)
        async with self._session() as session:
            total, *rest = (await session.execute(query)).one()
        counts = {status.value: int(value or 0) for status, value in zip(_STATUSES, rest, strict=False)}
        avg_ms = rest[len(_STATUSES)]
        return StageCounts(total=int(total or 0), avg_duration_ms=None if avg_ms is None else float(avg_ms), **counts)

    async def route_message_counts(self, execution_id: str) -> dict[str, RouteMessageCounts]:
        """Per route: distinct messages, classified as HTTP API `RouteStatus` defines, and mean duration."""
        status = _Entry.stage_status
        completed = status == StageStatus.COMPLETED.value
        per_message = (
            select(
                _Entry.route_id.label("route_id"),
                func.max(case((status == StageStatus.FAILED.value, 1), else_=0)).label("failed"),
                func.max(case((status.in_(_ACTIVE), 1), else_=0)).label("active"),
                func.max(case((status == StageStatus.CANCELLED.value, 1), else_=0)).label("cancelled"),
                func.sum(case((completed, _Entry.duration_ms))).label("duration_sum"),
                func.count(case((and_(completed, _Entry.duration_ms.is_not(None)), 1))).label("duration_n"),
            )
            .where(_Entry.execution_id == execution_id)
            .group_by(_Entry.route_id, _Entry.correlation_id)
            .subquery()
        )
        failed, active, cancelled = per_message.c.failed == 1, per_message.c.active == 1, per_message.c.cancelled == 1
        query = select(
            per_message.c.route_id,
            func.count(),
            func.sum(case((failed, 1), else_=0)),
            func.sum(case((and_(~failed, active), 1), else_=0)),
            func.sum(case((and_(~failed, ~active, cancelled), 1), else_=0)),
            func.sum(per_message.c.duration_sum),
            func.sum(per_message.c.duration_n),
        ).group_by(per_message.c.route_id)
        async with self._session() as session:
            result = (await session.execute(query)).all()
        counts: dict[str, RouteMessageCounts] = {}
        for route, total, n_failed, n_active, n_cancelled, duration_sum, duration_n in result:
            total, n_failed, n_active, n_cancelled = int(total), int(n_failed), int(n_active), int(n_cancelled)
            counts[route] = RouteMessageCounts(
                route_id=route,
                total_messages=total,
                completed=total - n_failed - n_active - n_cancelled,
                failed=n_failed,
                cancelled=n_cancelled,
                in_progress=n_active,
                avg_duration_ms=float(duration_sum) / int(duration_n) if duration_n else None,
            )
        return counts
