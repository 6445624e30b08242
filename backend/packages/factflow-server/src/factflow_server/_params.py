"""Query-parameter types shared by the routers (api.md §2.1, §2.6)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

__all__ = ("QueryBool", "QueryDatetime", "parse_query_bool")

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def parse_query_bool(value: Any) -> Any:
    """Accept exactly `true`/`false`/`1`/`0` (any case); anything else is a 422."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError("must be one of true, false, 1 or 0")


QueryBool = Annotated[bool, BeforeValidator(parse_query_bool)]
"""A boolean query parameter: `true`, `false`, `1` or `0`."""

QueryDatetime = AwareDatetime
"""A query timestamp: RFC 3339 with any offset (naive values are refused)."""
