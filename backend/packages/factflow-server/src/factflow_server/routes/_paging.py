"""Paging helpers (docs/reference/http-api.md)."""

from __future__ import annotations

from typing import Any

__all__ = ("page_fields",)


def page_fields(*, total: int, limit: int, offset: int, count: int) -> dict[str, Any]:
    """`total`, `limit`, `offset` and `has_more` (`offset + count < total`)."""
    return {"total": total, "limit": limit, "offset": offset, "has_more": offset + count < total}
