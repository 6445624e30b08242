"""Request-parameter types and checks shared by the routers (docs/reference/http-api.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Query
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from ._errors import ApiError
from .schemas._common import Tag

__all__ = (
    "METADATA_LIMIT_BYTES",
    "ExecutionSourceHeader",
    "MAX_OFFSET",
    "LastEventId",
    "Offset",
    "QueryBool",
    "QueryDatetime",
    "Tag",
    "TimeoutSeconds",
    "check_json_values",
    "check_metadata_size",
    "parse_query_bool",
    "source_of",
)

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
METADATA_LIMIT_BYTES = 64 * 1024
"""Largest serialized `metadata` object stored on an execution."""


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


def _check_utc_range(value: datetime) -> datetime:
    # `9999-12-31T23:59:59-14:00` parses, but is past the year 9999 in UTC, where stores compare.
    try:
        value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of range once converted to UTC") from exc
    return value


QueryDatetime = Annotated[AwareDatetime, AfterValidator(_check_utc_range)]
"""A query timestamp: RFC 3339 with any offset (naive values and instants outside years 1–9999 UTC are refused)."""


LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]
"""The SSE resume header."""

ExecutionSourceHeader = Annotated[str | None, Header(alias="X-Factflow-Source")]
"""`cli` marks executions as started by the CLI."""

MAX_OFFSET = 2**31 - 1
"""Largest paging `offset` accepted; past it a request is a 422 rather than a number no database column holds."""

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
"""The paging `offset` query parameter: 0 to `MAX_OFFSET`."""

TimeoutSeconds = Annotated[float, Query(alias="timeout", ge=1, le=3600)]
"""The `timeout` query parameter: a stream lifetime in seconds, 1–3600."""


def source_of(header: str | None) -> str:
    """`cli` when `X-Factflow-Source: cli`, else `api` (docs/reference/http-api.md)."""
    return "cli" if (header or "").strip().lower() == "cli" else "api"


def check_json_values(name: str, value: Any) -> str | None:
    """Serialize `value` as strict JSON; a non-finite number (`NaN`, `Infinity`) is a 422."""
    if value is None:
        return None
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise ApiError(
            422, "request_validation_error", f"`{name}` holds a number JSON cannot represent (NaN or Infinity)."
        ) from exc


def check_metadata_size(metadata: dict[str, Any] | None) -> None:
    """Refuse `metadata` over 64 KiB serialized (or with non-finite numbers) with a 422."""
    text = check_json_values("metadata", metadata)
    if text is None:
        return
    size = len(text.encode("utf-8"))
    if size > METADATA_LIMIT_BYTES:
        raise ApiError(
            422,
            "request_validation_error",
            f"`metadata` is {size} bytes serialized; the limit is {METADATA_LIMIT_BYTES}.",
            context={"size": size, "limit": METADATA_LIMIT_BYTES},
        )
