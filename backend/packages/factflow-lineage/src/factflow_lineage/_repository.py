"""`LineageRepository`: every lineage query the API, the CLI and the engine need."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, and_, case, delete, distinct, func, or_, select, tuple_, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_infra.database import keyset_after
from factflow_infra.errors import DatabaseUnavailableError
from factflow_protocols import StageStatus

from ._codec import STATUS_CODES, entry_from, id_value
from ._model import (
    LINEAGE_BUCKET_SECONDS,
    LineageBucketRow,
    LineageMessageRow,
    LineageRouteRow,
    LineageRow,
    LineageStageRow,
    PipelineLineageEntry,
)
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

RELEASE_MESSAGE_PAGES_OVER_BYTES: Final = 1 << 20
"""Index size of an empty `pipeline_lineage_messages` above which compaction gives the pages back."""

logger = logging.getLogger(__name__)

LineageSortField = Literal["started_at", "completed_at", "duration_ms", "route_id", "stage_name"]
"""Columns `GET /lineage` sorts by (ties by `id`)."""
SortOrder = Literal["asc", "desc"]

_ROWS = LineageRow.__table__
_STAGES = LineageStageRow.__table__
_R = _ROWS.c
_S = _STAGES.c
_B = LineageBucketRow.__table__.c
_ROUTE = LineageRouteRow.__table__.c
_MESSAGE = LineageMessageRow.__table__.c
_STAGE_NAMES: Final = (_S.execution_id, _S.route_id, _S.adapter_name, _S.adapter_index, _S.stage_name)
_ENTRY: Final = (*(column for column in _R if column.name != "stage_key"), *_STAGE_NAMES)
_JOINED: Final = _ROWS.join(_STAGES, _R.stage_key == _S.stage_key)

_Rows = list[PipelineLineageEntry]
_Page = tuple[list[PipelineLineageEntry], int]
_Messages = list[LineageMessage]

_SORT_COLUMNS: Final[dict[str, Any]] = {
    "started_at": _R.started_at,
    "completed_at": _R.completed_at,
    "duration_ms": _R.duration_ms,
    "route_id": _S.route_id,
    "stage_name": _S.stage_name,
}
_NULLABLE_SORT: Final = frozenset({"completed_at", "duration_ms"})
_STATUSES: Final = tuple(StageStatus)
_COUNTER_OF: Final = {status: f"{status.value}_count" for status in _STATUSES}
_ID_CHUNK: Final = 1000
_FAILED: Final = STATUS_CODES[StageStatus.FAILED.value]
_COMPLETED: Final = STATUS_CODES[StageStatus.COMPLETED.value]
_ACTIVE: Final = (STATUS_CODES[StageStatus.PENDING.value], STATUS_CODES[StageStatus.PROCESSING.value])
_CANCELLED: Final = STATUS_CODES[StageStatus.CANCELLED.value]
_DEEP_OFFSET: Final = 1000
"""From this offset on, a page by `started_at` first finds its first `started_at` without the heap."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _id_is(column: str, text: str) -> ColumnElement[bool]:
    """`column` (a compact id column) holds the text id `text` (a UUID, or a stand-in with that text)."""
    value = id_value(text)
    fallback = _R[f"{column}_text"]
    exact = fallback.is_(None) if str(value) == text else fallback == text
    condition: ColumnElement[bool] = (_R[column] == value) & exact
    return condition


def _metadata_text(key: str) -> ColumnElement[str]:
    """`metadata[key]` as text, on SQLite (JSON_EXTRACT) and PostgreSQL (->>) alike."""
    element: Any = _R.metadata[key]  # the JSON comparator's `as_string` is untyped
    text_value: ColumnElement[str] = element.as_string()
    return text_value


def _contains(value: str) -> str:
    """A LIKE pattern matching `value` anywhere; LIKE's wildcards are escaped with a backslash."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _ID_CHUNK):
        yield values[start : start + _ID_CHUNK]


def _entries(result: Iterable[Any]) -> _Rows:
    return [entry_from(row._mapping) for row in result]


def _row_conditions(
    *,
    correlation_id: str | None,
    parent_correlation_id: str | None,
    is_root: bool | None,
    replay_batch_id: str | None,
    batch_id: str | None,
    metadata_contains: dict[str, str | None],
    document_id: str | None,
    started_after: datetime | None,
    started_before: datetime | None,
) -> list[ColumnElement[bool]]:
    """The `GET /lineage` filters on a row's own columns (the counters cannot answer their totals)."""
    conditions: list[ColumnElement[bool]] = []
    for column, value in (
        ("correlation_id", correlation_id),
        ("parent_correlation_id", parent_correlation_id),
        ("replay_batch_id", replay_batch_id),
        ("batch_id", batch_id),
    ):
        if value is not None:
            conditions.append(_id_is(column, value))
    if is_root is not None:
        parent = _R.parent_correlation_id
        conditions.append(parent.is_(None) if is_root else parent.is_not(None))
    for key, needle in metadata_contains.items():
        if needle is not None:
            conditions.append(_metadata_text(key).ilike(_contains(needle), escape="\\"))
    if document_id is not None:
        conditions.append(_metadata_text("document_id") == document_id)
    if started_after is not None:
        conditions.append(_R.started_at >= started_after)
    if started_before is not None:
        conditions.append(_R.started_at < started_before)
    return conditions


class LineageRepository:
    """Read access to `pipeline_lineage` (compact rows) and `pipeline_lineage_stages` (names and counters).

    Database failures surface as `DatabaseUnavailableError` (a `ServiceUnavailableError` with code
    `database_unavailable`); no SQLAlchemy or driver exception leaves this class. Methods that page take `limit` and
    `offset` as given — the API validates their bounds.

    Totals and stats of filters that name only stages (execution, route, adapter, stage, status)
    come from the per-stage counters, not from counting rows.

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

    # ------------------------------------------------------------------ stages

    @staticmethod
    async def _stages(
        session: AsyncSession,
        *,
        execution_id: str | None = None,
        route_id: str | None = None,
        adapter_name: str | None = None,
        stage_name: str | None = None,
    ) -> list[LineageStageRow]:
        query = select(LineageStageRow)
        for column, value in (
            (_S.execution_id, execution_id),
            (_S.route_id, route_id),
            (_S.adapter_name, adapter_name),
            (_S.stage_name, stage_name),
        ):
            if value is not None:
                query = query.where(column == value)
        return list(await session.scalars(query))

    @staticmethod
    def _in_stages(stages: Sequence[LineageStageRow]) -> list[ColumnElement[bool]]:
        """Rows of these stages: by `stage_key`, and inside their `started_at` span (so the time index is bounded)."""
        conditions: list[ColumnElement[bool]] = [_R.stage_key.in_([stage.stage_key for stage in stages])]
        firsts = [stage.first_started_at for stage in stages if stage.first_started_at is not None]
        lasts = [stage.last_started_at for stage in stages if stage.last_started_at is not None]
        if firsts and lasts:
            conditions += [_R.started_at >= min(firsts), _R.started_at <= max(lasts)]
        return conditions

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
        status_name = None if status is None else str(status)
        if status_name is not None:
            if status_name not in STATUS_CODES:
                return [], 0
            conditions.append(_R.stage_status == STATUS_CODES[status_name])
        row_conditions = _row_conditions(
            correlation_id=correlation_id,
            parent_correlation_id=parent_correlation_id,
            is_root=is_root,
            replay_batch_id=replay_batch_id,
            batch_id=batch_id,
            metadata_contains={"url": url, "title": title, "origin": origin},
            document_id=document_id,
            started_after=started_after,
            started_before=started_before,
        )
        conditions += row_conditions
        row_filters = bool(row_conditions)

        column = _SORT_COLUMNS[sort_by]
        nullable = sort_by in _NULLABLE_SORT
        # `NULLS LAST` only where NULLs exist: PostgreSQL walks an index backwards only as `NULLS FIRST`.
        if sort_order == "desc":
            order = (column.desc().nulls_last() if nullable else column.desc(), _R.id.desc())
        else:
            order = (column.asc().nulls_last() if nullable else column.asc(), _R.id.asc())
        seek = self._seek(column, after, sort_order, nullable=nullable)
        async with self._session() as session:
            total: int | None = None
            stages: list[LineageStageRow] | None = None
            if any(value is not None for value in (execution_id, route_id, adapter_name, stage_name)):
                stages = await self._stages(
                    session,
                    execution_id=execution_id,
                    route_id=route_id,
                    adapter_name=adapter_name,
                    stage_name=stage_name,
                )
                if not stages:
                    return [], 0
                conditions += self._in_stages(stages)
                if not row_filters:
                    counter = "row_count" if status_name is None else f"{status_name}_count"
                    total = sum(getattr(stage, counter) for stage in stages)
            if total is None:
                total = int(await session.scalar(select(func.count()).select_from(_ROWS).where(*conditions)) or 0)
            if sort_by == "started_at" and after is None and offset >= _DEEP_OFFSET:
                if stages is not None and status_name is None and not row_filters:
                    # Only stage filters: the span counters say which 10 s of rows the page starts in.
                    span, offset = await self._span_of(session, stages, sort_order, offset=offset)
                    conditions.append(span)
                rows = await self._deep_page(session, conditions, order, sort_order, limit=limit, offset=offset)
            else:
                query = select(*_ENTRY).select_from(_JOINED).where(*conditions, *seek)
                rows = _entries(await session.execute(query.order_by(*order).limit(limit).offset(offset)))
        return rows, total

    @staticmethod
    async def _span_of(
        session: AsyncSession, stages: Sequence[LineageStageRow], direction: SortOrder, *, offset: int
    ) -> tuple[ColumnElement[bool], int]:
        """The `started_at` span (of `LINEAGE_BUCKET_SECONDS`) that row `offset` of these stages falls in.

        Returns the condition "from that span on" (in `direction`) and the offset of the row
        counted from the span's first row. The counters are summed in order until they pass
        `offset`; past the last row the condition selects nothing.
        """
        ascending = direction == "asc"
        per_bucket = (
            select(_B.bucket.label("bucket"), func.sum(_B.row_count).label("rows"))
            .where(_B.stage_key.in_([stage.stage_key for stage in stages]))
            .group_by(_B.bucket)
            .subquery()
        )
        running = func.sum(per_bucket.c.rows).over(
            order_by=per_bucket.c.bucket if ascending else per_bucket.c.bucket.desc()
        )
        spans = select(per_bucket.c.bucket, running.label("through"), per_bucket.c.rows).subquery()
        query = (
            select(spans.c.bucket, spans.c.through - spans.c.rows)
            .where(spans.c.through > offset)
            .order_by(spans.c.bucket if ascending else spans.c.bucket.desc())
            .limit(1)
        )
        found = (await session.execute(query)).first()
        if found is None:
            return _R.started_at.is_(None), 0  # no row that far: an empty page
        bucket, before = int(found[0]), int(found[1])
        start = _EPOCH + timedelta(seconds=bucket * LINEAGE_BUCKET_SECONDS)
        if ascending:
            return _R.started_at >= start, offset - before
        return _R.started_at < start + timedelta(seconds=LINEAGE_BUCKET_SECONDS), offset - before

    async def _deep_page(
        self,
        session: AsyncSession,
        conditions: Sequence[ColumnElement[bool]],
        order: Sequence[Any],
        direction: SortOrder,
        *,
        limit: int,
        offset: int,
    ) -> _Rows:
        """A page far into the `started_at` order: its first `started_at` is found on the index alone.

        Skipping `offset` rows then reads only `(started_at, stage_key)` index entries instead of
        whole rows; the page itself starts at that `started_at`, skipping only the rows that share
        it and come before the page.
        """
        if offset == 0:
            query = select(*_ENTRY).select_from(_JOINED).where(*conditions)
            return _entries(await session.execute(query.order_by(*order).limit(limit)))
        started = _R.started_at
        ascending = direction == "asc"
        boundary_query = select(started).where(*conditions).order_by(started if ascending else started.desc())
        values = list(await session.scalars(boundary_query.offset(offset - 1).limit(2)))
        if len(values) < 2:
            return []
        before, first = values
        skip = 0
        from_first = started >= first if ascending else started <= first
        if before == first:
            # The page starts inside a run of equal `started_at`: count what lies before the run.
            earlier = started < first if ascending else started > first
            ahead = await session.scalar(select(func.count()).select_from(_ROWS).where(*conditions, earlier))
            skip = offset - int(ahead or 0)
        query = select(*_ENTRY).select_from(_JOINED).where(*conditions, from_first)
        return _entries(await session.execute(query.order_by(*order).limit(limit).offset(skip)))

    @staticmethod
    def _seek(
        column: Any, after: tuple[Any, str] | None, direction: SortOrder, *, nullable: bool
    ) -> tuple[ColumnElement[bool], ...]:
        if after is None:
            return ()
        value, row_id = after
        return (
            keyset_after(column, _R.id, value=value, row_id=id_value(row_id), direction=direction, nullable=nullable),
        )

    async def get(self, correlation_id: str) -> _Rows:
        """Every row of one message, across routes, by `adapter_index`, then `started_at`."""
        async with self._session() as session:
            return await self._rows_of(session, [correlation_id])

    async def get_entry(self, entry_id: str) -> PipelineLineageEntry | None:
        """One row by its id."""
        query = select(*_ENTRY).select_from(_JOINED).where(_id_is("id", entry_id))
        async with self._session() as session:
            rows = _entries(await session.execute(query))
        return rows[0] if rows else None

    async def resolve(self, lineage_id: str) -> str | None:
        """The correlation id that `lineage_id` names: a row's (when it is a row id), else itself if it has rows."""
        async with self._session() as session:
            found = (
                await session.execute(select(_R.correlation_id, _R.correlation_id_text).where(_id_is("id", lineage_id)))
            ).first()
            if found is not None:
                value, fallback = found
                return str(fallback if fallback is not None else value)
            exists = await session.scalar(select(_R.id).where(_id_is("correlation_id", lineage_id)).limit(1))
            return lineage_id if exists is not None else None

    async def rows_for_message(self, correlation_id: str, route_id: str) -> _Rows:
        """The rows of one message in one route, in one query (the engine's resume walk)."""
        query = (
            select(*_ENTRY)
            .select_from(_JOINED)
            .where(_id_is("correlation_id", correlation_id), _S.route_id == route_id)
            .order_by(_S.adapter_index, _R.started_at, _R.id)
        )
        async with self._session() as session:
            return _entries(await session.execute(query))

    async def execution_rows(
        self, execution_id: str, *, limit: int = 1000, offset: int = 0, after: tuple[Any, str] | None = None
    ) -> _Page:
        """One page of an execution's rows by `started_at`, then `id` (`list_execution_lineage`).

        `after` continues a keyset page after that `(started_at, id)`.
        """
        return await self.list(execution_id=execution_id, limit=limit, offset=offset, after=after)

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
        conditions: list[ColumnElement[bool]] = [_R.stage_status == _FAILED]
        if started_after is not None:
            conditions.append(_R.started_at >= started_after)
        order = (_R.completed_at.desc().nulls_last(), _R.id.desc())
        seek = self._seek(_R.completed_at, after, "desc", nullable=True)
        async with self._session() as session:
            total: int | None = None
            if any(value is not None for value in (execution_id, route_id, adapter_name)):
                stages = await self._stages(
                    session, execution_id=execution_id, route_id=route_id, adapter_name=adapter_name
                )
                if not stages:
                    return [], 0
                conditions.append(_R.stage_key.in_([stage.stage_key for stage in stages]))
                if started_after is None:
                    total = sum(stage.failed_count for stage in stages)
            if total is None:
                total = int(await session.scalar(select(func.count()).select_from(_ROWS).where(*conditions)) or 0)
            query = select(*_ENTRY).select_from(_JOINED).where(*conditions, *seek)
            rows = _entries(await session.execute(query.order_by(*order).limit(limit).offset(offset)))
        return rows, total

    async def delete_execution_rows(
        self, execution_id: str, *, batch_size: int = DELETE_BATCH_ROWS, pause_seconds: float = 0.05
    ) -> int:
        """Delete every lineage row of one execution, `batch_size` rows per statement; the rows deleted.

        Each batch is its own short transaction followed by a pause of `pause_seconds`, so the
        lineage writer and readers never wait long behind it (PostgreSQL and SQLite alike). The
        execution's stage rows (and their counters) go last.
        """
        async with self._session() as session:
            stages = await self._stages(session, execution_id=execution_id)
        if not stages:
            return 0
        keys = [stage.stage_key for stage in stages]
        in_stages = self._in_stages(stages)
        deleted = 0
        while True:
            batch = select(_R.id).where(*in_stages).limit(batch_size).scalar_subquery()
            async with self._session() as session, session.begin():
                result = await session.execute(
                    delete(LineageRow).where(_R.id.in_(batch)).execution_options(synchronize_session=False)
                )
            count = int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult of a DELETE
            deleted += count
            if count < batch_size:
                break
            await asyncio.sleep(pause_seconds)
        async with self._session() as session:
            route_keys = list(
                await session.scalars(select(_ROUTE.route_key).where(_ROUTE.execution_id == execution_id))
            )
        # The per-message counters too, in batches as the rows (one per message and route).
        while route_keys:
            async with self._session() as session, session.begin():
                messages = (
                    select(_MESSAGE.route_key, _MESSAGE.correlation_id)
                    .where(_MESSAGE.route_key.in_(route_keys))
                    .limit(batch_size)
                )
                result = await session.execute(
                    delete(LineageMessageRow)
                    .where(tuple_(_MESSAGE.route_key, _MESSAGE.correlation_id).in_(messages))
                    .execution_options(synchronize_session=False)
                )
            if int(result.rowcount or 0) < batch_size:  # type: ignore[attr-defined]  # CursorResult of a DELETE
                break
            await asyncio.sleep(pause_seconds)
        async with self._session() as session, session.begin():
            await session.execute(delete(LineageStageRow).where(_S.stage_key.in_(keys)))
            await session.execute(delete(LineageRouteRow).where(_ROUTE.execution_id == execution_id))
        return deleted

    async def batch(self, batch_id: str, *, limit: int = 1000, offset: int = 0) -> LineageBatch | None:
        """Rows whose `replay_batch_id` or `batch_id` is `batch_id`; `None` when there are none."""
        by_replay, by_adapter = _id_is("replay_batch_id", batch_id), _id_is("batch_id", batch_id)
        matches = or_(by_replay, by_adapter)
        counts = select(
            select(func.count()).select_from(_ROWS).where(matches).scalar_subquery(),
            select(func.count()).select_from(_ROWS).where(by_replay).scalar_subquery(),
            select(func.count()).select_from(_ROWS).where(by_adapter).scalar_subquery(),
        )
        page = (
            select(*_ENTRY)
            .select_from(_JOINED)
            .where(matches)
            .order_by(_R.started_at, _R.id)
            .limit(limit)
            .offset(offset)
        )
        async with self._session() as session:
            total, n_replay, n_adapter = (await session.execute(counts)).one()
            if not total:
                return None
            entries = tuple(_entries(await session.execute(page)))
        kind: Literal["replay", "adapter", "mixed"]
        kind = "mixed" if n_replay and n_adapter else ("replay" if n_replay else "adapter")
        return LineageBatch(batch_id=batch_id, kind=kind, total=int(total), entries=entries)

    # ------------------------------------------------------------------ messages

    async def message(self, correlation_id: str, *, depth: int = 0) -> LineageMessage | None:
        """One message with all its rows (`get_lineage_message`), or `None` when it has no rows."""
        async with self._session() as session:
            messages = await self._messages(session, {correlation_id: depth})
        return messages[0] if messages else None

    async def children(self, correlation_id: str, *, limit: int = 100, offset: int = 0) -> tuple[_Messages, int]:
        """One page of the direct children of a message, by first `started_at`, and their total."""
        is_child = _id_is("parent_correlation_id", correlation_id)
        first_started = func.min(_R.started_at)
        page = (
            select(_R.correlation_id, _R.correlation_id_text)
            .where(is_child)
            .group_by(_R.correlation_id, _R.correlation_id_text)
            .order_by(first_started, _R.correlation_id)
            .limit(limit)
            .offset(offset)
        )
        async with self._session() as session:
            total = await session.scalar(select(func.count(distinct(_R.correlation_id))).where(is_child))
            child_ids = [str(fallback or value) for value, fallback in await session.execute(page)]
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
        """Ancestors (`upward`) or descendants of a message with their distance, one indexed query per level.

        Goes one level past `max_depth` and returns up to `limit + 1` ids nearest first, so the
        caller can tell whether anything was cut off. Each level looks its ids up on the
        `correlation_id` (upward) or `parent_correlation_id` (downward) index; the depth bound
        ends the walk even on a (corrupt) cycle of parent links.
        """
        if upward:
            start, start_text, found, found_text = (
                _R.correlation_id,
                _R.correlation_id_text,
                _R.parent_correlation_id,
                _R.parent_correlation_id_text,
            )
        else:
            start, start_text, found, found_text = (
                _R.parent_correlation_id,
                _R.parent_correlation_id_text,
                _R.correlation_id,
                _R.correlation_id_text,
            )
        depths: dict[str, int] = {}
        level = [correlation_id]
        depth = 0
        while level and depth <= max_depth and len(depths) <= limit:
            depth += 1
            wanted = {id_value(text): text for text in level}
            next_level: set[str] = set()
            for chunk in _chunks(list(wanted)):
                query = (
                    select(start, start_text, found, found_text).where(start.in_(chunk), found.is_not(None)).distinct()
                )
                for start_value, start_fallback, value, fallback in await session.execute(query):
                    if str(start_fallback or start_value) != wanted[start_value]:
                        continue  # a stand-in UUID shared by two texts: not this message
                    found_id = str(fallback or value)
                    if found_id != correlation_id and found_id not in depths:
                        next_level.add(found_id)
            level = sorted(next_level)[: limit + 1 - len(depths)]
            depths.update(dict.fromkeys(level, depth))
        return depths

    async def _rows_of(self, session: AsyncSession, correlation_ids: Collection[str]) -> _Rows:
        wanted = {id_value(text): text for text in correlation_ids}
        rows: _Rows = []
        for chunk in _chunks(list(wanted)):
            query = (
                select(*_ENTRY)
                .select_from(_JOINED)
                .where(_R.correlation_id.in_(chunk))
                .order_by(_S.adapter_index, _R.started_at, _R.id)
            )
            rows.extend(
                entry for entry in _entries(await session.execute(query)) if entry.correlation_id in correlation_ids
            )
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

        Read from the stage counters, not the rows. Rows are ordered by `route_order` (the
        snapshot's declaration order, when the caller has it), other routes after those by when
        they first ran, then by `adapter_index`.
        """
        async with self._session() as session:
            stages = [stage for stage in await self._stages(session, execution_id=execution_id) if stage.row_count]
        route_started: dict[str, datetime] = {}
        adapters: list[tuple[datetime, AdapterStats]] = []
        for stage in stages:
            first_started = stage.first_started_at
            assert first_started is not None  # a stage with rows has one
            route_started[stage.route_id] = min(first_started, route_started.get(stage.route_id, first_started))
            adapters.append(
                (
                    first_started,
                    AdapterStats(
                        route_id=stage.route_id,
                        adapter_name=stage.adapter_name,
                        adapter_index=stage.adapter_index,
                        stage_name=stage.stage_name,
                        count=stage.row_count,
                        pending=stage.pending_count,
                        processing=stage.processing_count,
                        completed=stage.completed_count,
                        failed=stage.failed_count,
                        skipped=stage.skipped_count,
                        cancelled=stage.cancelled_count,
                        avg_duration_ms=stage.duration_total_ms / stage.duration_count
                        if stage.duration_count
                        else None,
                        max_duration_ms=stage.duration_max_ms if stage.duration_count else None,
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
        """Row counts of an execution per status, and the mean duration of its completed rows (from the counters)."""
        async with self._session() as session:
            stages = await self._stages(session, execution_id=execution_id)
        counts = {status.value: sum(getattr(stage, _COUNTER_OF[status]) for stage in stages) for status in _STATUSES}
        durations = sum(stage.duration_count for stage in stages)
        avg_ms = sum(stage.duration_total_ms for stage in stages) / durations if durations else None
        return StageCounts(total=sum(stage.row_count for stage in stages), avg_duration_ms=avg_ms, **counts)

    async def route_counters(self, execution_id: str) -> dict[str, RouteMessageCounts]:
        """Per route: the counts `route_message_counts` aggregates, read from the counters the database keeps.

        A few counter rows per route (`pipeline_lineage_routes` and the stage counters for the
        mean duration), however many lineage rows the execution has; routes without messages
        are left out, as there.
        """
        async with self._session() as session:
            return await self._route_counters(session, execution_id)

    async def seal_route_counters(self, execution_id: str) -> dict[str, RouteMessageCounts]:
        """Seal the execution's route counters and return them (as `route_counters`), to be frozen with it.

        For an execution that ended and whose lineage is all written. From then on the database
        leaves its routes alone: late writes, retention and deletes of its rows no longer move
        these counters nor its per-message rows, and `compact_sealed_messages` may delete those.
        Seal and read are one transaction, so the counts returned are the sealed ones, even with
        a writer racing the seal. Sealing again changes nothing.
        """
        async with self._session() as session, session.begin():
            await session.execute(
                update(LineageRouteRow)
                .where(_ROUTE.execution_id == execution_id, _ROUTE.sealed.is_(False))
                .values(sealed=True)
                .execution_options(synchronize_session=False)
            )
            return await self._route_counters(session, execution_id)

    async def _route_counters(self, session: AsyncSession, execution_id: str) -> dict[str, RouteMessageCounts]:
        routes = (
            await session.execute(
                select(
                    _ROUTE.route_id,
                    _ROUTE.message_count,
                    _ROUTE.failed_messages,
                    _ROUTE.in_progress_messages,
                    _ROUTE.cancelled_messages,
                ).where(_ROUTE.execution_id == execution_id, _ROUTE.message_count > 0)
            )
        ).all()
        if not routes:
            return {}
        return self._message_counts(
            routes, self._route_durations(await self._stages(session, execution_id=execution_id))
        )

    async def compact_sealed_messages(
        self,
        *,
        batch_size: int = DELETE_BATCH_ROWS,
        pause_seconds: float = 0.05,
        release_pages_over_bytes: int = RELEASE_MESSAGE_PAGES_OVER_BYTES,
    ) -> int:
        """Delete the per-message counter rows of sealed routes, `batch_size` per statement; the rows deleted.

        A sealed route's counters no longer move, so its message rows serve nothing; a finished
        execution then costs no row per message. No trigger touches these rows any more, so the
        deletes wait on no writer; each batch is its own short transaction followed by a pause
        of `pause_seconds` (as `delete_execution_rows`). Rows of unsealed routes stay. Then, on
        PostgreSQL, a table left empty whose indexes hold more than `release_pages_over_bytes`
        gives their emptied pages back (`release_emptied_message_pages`).
        """
        deleted = await self._delete_sealed_messages(batch_size, pause_seconds)
        await self.release_emptied_message_pages(over_bytes=release_pages_over_bytes)
        return deleted

    async def release_emptied_message_pages(self, *, over_bytes: int = RELEASE_MESSAGE_PAGES_OVER_BYTES) -> bool:
        """Truncate `pipeline_lineage_messages` on PostgreSQL when it holds no row; whether it did.

        A B-tree keeps the pages its deleted entries leave (reused by later entries, never given
        back), so the primary key would stay at the most messages ever counted at once. When no
        route is counting (every execution sealed and compacted), TRUNCATE gives the pages back.
        It runs only when the indexes exceed `over_bytes`, under an exclusive lock taken with a
        100 ms `lock_timeout` (a writer waits at most that long; a busy table is left for the next
        pass) and only if the table is empty under that lock, so no row is lost.
        """
        async with self._session() as session:
            if session.get_bind().dialect.name != "postgresql":
                return False
            try:
                async with session.begin():
                    indexes_size = sql_text("SELECT pg_indexes_size('pipeline_lineage_messages')")
                    size = int(await session.scalar(indexes_size) or 0)
                    if size <= over_bytes:
                        return False
                    await session.execute(sql_text("SET LOCAL lock_timeout = '100ms'"))
                    await session.execute(sql_text("LOCK TABLE pipeline_lineage_messages IN ACCESS EXCLUSIVE MODE"))
                    if await session.scalar(select(_MESSAGE.route_key).limit(1)) is not None:
                        return False
                    await session.execute(sql_text("TRUNCATE pipeline_lineage_messages"))
            except DBAPIError as exc:  # the lock was not free within the timeout: next pass
                logger.debug("Emptied message-counter pages not released this pass: %s", exc)
                return False
        logger.info("Released the emptied pages of the per-message route counters (%d bytes of index)", size)
        return True

    async def _delete_sealed_messages(self, batch_size: int, pause_seconds: float) -> int:
        has_messages = select(_MESSAGE.route_key).where(_MESSAGE.route_key == _ROUTE.route_key).exists()
        async with self._session() as session:
            route_keys = list(
                await session.scalars(
                    select(_ROUTE.route_key).where(_ROUTE.sealed.is_(True), has_messages).order_by(_ROUTE.route_key)
                )
            )
        deleted = 0
        for route_key in route_keys:
            while True:
                in_route = _MESSAGE.route_key == route_key
                async with self._session() as session, session.begin():
                    if session.get_bind().dialect.name == "postgresql":
                        # Both statements are ranges of the primary key. Statistics taken before the
                        # rows came (the table was empty) made the planner scan the table instead,
                        # or join the batch to it in a nested loop: seconds per batch.
                        await session.execute(sql_text("SET LOCAL enable_seqscan = off"))
                    # The batch is a key range: up to its `batch_size`-th correlation id.
                    last = await session.scalar(
                        select(_MESSAGE.correlation_id)
                        .where(in_route)
                        .order_by(_MESSAGE.correlation_id)
                        .offset(batch_size - 1)
                        .limit(1)
                    )
                    batch = in_route if last is None else and_(in_route, _MESSAGE.correlation_id <= last)
                    result = await session.execute(
                        delete(LineageMessageRow).where(batch).execution_options(synchronize_session=False)
                    )
                deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult of a DELETE
                if last is None:
                    break
                await asyncio.sleep(pause_seconds)
        return deleted

    @staticmethod
    def _message_counts(
        rows: Iterable[Sequence[Any]], durations: dict[str, tuple[float, int]]
    ) -> dict[str, RouteMessageCounts]:
        """`RouteMessageCounts` by route from `(route_id, total, failed, in_progress, cancelled)` rows."""
        counts: dict[str, RouteMessageCounts] = {}
        for route_id, total, failed, in_progress, cancelled in rows:
            total, failed, in_progress, cancelled = int(total), int(failed), int(in_progress), int(cancelled)
            duration_ms, duration_n = durations.get(route_id, (0.0, 0))
            counts[route_id] = RouteMessageCounts(
                route_id=route_id,
                total_messages=total,
                completed=total - failed - in_progress - cancelled,
                failed=failed,
                cancelled=cancelled,
                in_progress=in_progress,
                avg_duration_ms=duration_ms / duration_n if duration_n else None,
            )
        return counts

    @staticmethod
    def _route_durations(stages: Iterable[LineageStageRow]) -> dict[str, tuple[float, int]]:
        """Per route: the summed duration and count of its completed rows with a duration."""
        durations: dict[str, tuple[float, int]] = {}
        for stage in stages:
            total_ms, count = durations.get(stage.route_id, (0.0, 0))
            durations[stage.route_id] = (total_ms + stage.duration_total_ms, count + stage.duration_count)
        return durations

    async def route_message_counts(self, execution_id: str) -> dict[str, RouteMessageCounts]:
        """Per route: distinct messages, classified as HTTP API `RouteStatus` defines, and mean duration.

        The classes need each message's rows, so they are aggregated from the execution's rows only
        (its stage keys, inside its stages' `started_at` span on the time index — not the whole
        table); the mean duration comes from the stage counters.
        """
        status = _R.stage_status
        async with self._session() as session:
            stages = [stage for stage in await self._stages(session, execution_id=execution_id) if stage.row_count]
            if not stages:
                return {}
            route_of = case({stage.stage_key: stage.route_id for stage in stages}, value=_R.stage_key)
            per_message = (
                select(
                    route_of.label("route_id"),
                    func.max(case((status == _FAILED, 1), else_=0)).label("failed"),
                    func.max(case((status.in_(_ACTIVE), 1), else_=0)).label("active"),
                    func.max(case((status == _CANCELLED, 1), else_=0)).label("cancelled"),
                )
                .where(*self._in_stages(stages))
                .group_by(route_of, _R.correlation_id, _R.correlation_id_text)
                .subquery()
            )
            failed, active = per_message.c.failed == 1, per_message.c.active == 1
            cancelled = per_message.c.cancelled == 1
            query = select(
                per_message.c.route_id,
                func.count(),
                func.sum(case((failed, 1), else_=0)),
                func.sum(case((and_(~failed, active), 1), else_=0)),
                func.sum(case((and_(~failed, ~active, cancelled), 1), else_=0)),
            ).group_by(per_message.c.route_id)
            result = (await session.execute(query)).all()
        return self._message_counts(result, self._route_durations(stages))
