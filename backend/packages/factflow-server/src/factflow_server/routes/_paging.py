"""Paging helpers (docs/reference/http-api.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

__all__ = ("keyset_page_fields", "page_fields", "split_extra")

T = TypeVar("T")


def page_fields(*, total: int, limit: int, offset: int, count: int) -> dict[str, Any]:
    """`total`, `limit`, `offset` and `has_more` (`offset + count < total`)."""
    return {"total": total, "limit": limit, "offset": offset, "has_more": offset + count < total}


def split_extra(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """The page out of `limit + 1` fetched rows, and whether a row follows it."""
    return list(rows[:limit]), len(rows) > limit


def keyset_page_fields(
    *, total: int, limit: int, offset: int, count: int, cursor: str | None, more: bool, next_cursor: str | None
) -> dict[str, Any]:
    """The paging fields of a list that also takes `cursor`.

    With `offset` (or neither), `has_more` keeps its offset meaning; with `cursor`, `offset` is
    0 and `has_more` says whether rows follow. `next_cursor` is set whenever rows follow.
    """
    fields = page_fields(total=total, limit=limit, offset=offset, count=count)
    if cursor is not None:
        fields["has_more"] = more
    fields["next_cursor"] = next_cursor if more else None
    return fields
