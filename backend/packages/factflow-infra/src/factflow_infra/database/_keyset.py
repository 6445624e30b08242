"""Keyset ("seek") paging conditions shared by the repositories that page large tables.

A keyset page continues after the last row of the previous page instead of skipping `offset`
rows, so a deep page costs what a first page costs and rows inserted meanwhile never shift
what follows. Every order is a sort column plus the row id as a unique tiebreaker, both in the
same direction, with NULLs of the sort column last.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, or_, tuple_

__all__ = ("keyset_after",)


def keyset_after(
    column: Any,
    id_column: Any,
    *,
    value: Any,
    row_id: Any,
    direction: Literal["asc", "desc"],
    nullable: bool = False,
) -> ColumnElement[bool]:
    """The rows that come after `(value, row_id)` in `ORDER BY column <direction> NULLS LAST, id <direction>`.

    A non-nullable column uses a row-value comparison (`(column, id) > (:value, :id)`), which
    PostgreSQL and SQLite both answer with an index range scan when an index on `(column, id)`
    exists. A nullable column spells the same order out, with the NULL rows last.

    Args:
        column: The sort column.
        id_column: The unique tiebreaker (the primary key).
        value: The sort value of the last row already returned (`None` for a NULL).
        row_id: The id of that row.
        direction: `asc` or `desc`.
        nullable: Whether `column` can hold NULL.
    """
    ascending = direction == "asc"

    def beyond(left: Any, right: Any) -> ColumnElement[bool]:
        result: ColumnElement[bool] = left > right if ascending else left < right
        return result

    if value is None:
        # Inside the NULL block at the end: only later ids of that block remain.
        return and_(column.is_(None), beyond(id_column, row_id))
    if not nullable:
        return beyond(tuple_(column, id_column), tuple_(value, row_id))
    return or_(
        beyond(column, value),
        and_(column == value, beyond(id_column, row_id)),
        column.is_(None),
    )
