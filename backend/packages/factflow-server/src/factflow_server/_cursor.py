"""Opaque paging cursors for the large lists (docs/reference/http-api.md, Pagination).

A cursor names the last row of a page by its sort value and id, so the next page continues
right after it (keyset paging) instead of skipping `offset` rows. It is urlsafe base64 of a
small JSON object: format version, the list it belongs to, a fingerprint of the filters and
sort order it was issued for, and the position. A cursor from another list, from other filters
or another sort order, or one that does not decode is refused with 422 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Request

from ._errors import ApiError
from ._params import MAX_OFFSET

__all__ = (
    "CURSOR_MAX_LENGTH",
    "CursorParam",
    "CursorScope",
    "OptionalOffset",
    "PositionType",
    "check_paging",
)

CURSOR_MAX_LENGTH = 1024
"""Longest `cursor` accepted; real ones are far shorter."""

_VERSION = 1

PositionType = Literal["datetime", "float", "str"]
"""How the sort value of a position is stored in the cursor."""

CursorParam = Annotated[
    str | None,
    Query(
        max_length=CURSOR_MAX_LENGTH,
        description="Continue after the page that returned this `next_cursor` (not together with `offset`).",
    ),
]
"""The `cursor` query parameter."""

OptionalOffset = Annotated[
    int,
    Query(ge=0, le=MAX_OFFSET, description="Rows to skip; slow for deep pages, prefer `cursor`."),
]
"""The `offset` query parameter of a list that also takes `cursor`."""


def check_paging(request: Request, cursor: str | None, offset: int) -> int:
    """The offset to use; `cursor` together with `offset` (even `0`) is a 422 `request_validation_error`."""
    if cursor is not None and "offset" in request.query_params:
        raise ApiError(
            422,
            "request_validation_error",
            "`cursor` and `offset` cannot be combined; a cursor already says where the page starts.",
        )
    return offset


def _invalid(detail: str) -> ApiError:
    return ApiError(422, "invalid_cursor", detail)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _decode_value(raw: Any, kind: PositionType) -> Any:
    if raw is None:
        return None
    if kind == "datetime":
        if not isinstance(raw, str):
            raise ValueError("not a timestamp")
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            raise ValueError("a timestamp without offset")
        return moment
    if kind == "float":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError("not a number")
        return float(raw)
    if not isinstance(raw, str):
        raise ValueError("not a string")
    return raw


@dataclass(frozen=True, slots=True)
class CursorScope:
    """The list a cursor belongs to and the filters and order it was issued for.

    Args:
        kind: The list, e.g. `executions` or `lineage`.
        binding: Every filter and the sort order of the request (not `limit`); a cursor is only
            valid with the same values.
        position_type: The type of the sort value.
        nullable: Whether the sort value may be null (rows without it sort last).
    """

    kind: str
    binding: dict[str, Any]
    position_type: PositionType = "datetime"
    nullable: bool = False

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps({"kind": self.kind, **self.binding}, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def encode(self, value: Any, row_id: str) -> str:
        """The cursor naming the row `(value, row_id)` of this list."""
        document = {"v": _VERSION, "k": self.kind, "f": self.fingerprint, "p": [_encode_value(value), row_id]}
        raw = json.dumps(document, separators=(",", ":")).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def decode(self, cursor: str) -> tuple[Any, str]:
        """The `(sort value, id)` position a cursor names.

        Raises:
            ApiError: 422 `invalid_cursor` when it does not decode, belongs to another list, or
                was issued for other filters or another sort order.
        """
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            document = json.loads(raw.decode("utf-8"))
        except (binascii.Error, ValueError) as exc:
            raise _invalid("`cursor` is not a cursor this server issued; pass `next_cursor` unchanged.") from exc
        if not isinstance(document, dict) or document.get("v") != _VERSION:
            raise _invalid("`cursor` is not a cursor this server issued; pass `next_cursor` unchanged.")
        if document.get("k") != self.kind:
            raise _invalid(f"`cursor` belongs to another list, not to this {self.kind} list.")
        if document.get("f") != self.fingerprint:
            raise _invalid(
                "`cursor` was issued for other filters or another sort order; repeat the request that "
                "returned it with the same parameters (only `limit` may change), or start without `cursor`."
            )
        position = document.get("p")
        if not isinstance(position, list) or len(position) != 2 or not isinstance(position[1], str):
            raise _invalid("`cursor` is damaged; pass `next_cursor` unchanged.")
        try:
            value = _decode_value(position[0], self.position_type)
        except ValueError as exc:
            raise _invalid("`cursor` is damaged; pass `next_cursor` unchanged.") from exc
        if value is None and not self.nullable:
            raise _invalid("`cursor` is damaged; pass `next_cursor` unchanged.")
        return value, position[1]
