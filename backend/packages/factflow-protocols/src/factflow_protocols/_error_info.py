"""The HTTP API `error_info` object of a failure (docs/reference/http-api.md)."""

from __future__ import annotations

import traceback
from typing import Final

from ._json import JSONObject
from .errors import NonRetryableError

__all__ = ("build_error_info",)

TRACEBACK_MAX_BYTES: Final = 16 * 1024
"""Longest `error_info.traceback`, in UTF-8 bytes."""


def _traceback_text(exc: BaseException) -> str:
    """The formatted traceback, cut from the front to at most 16 KiB of UTF-8 (the end matters most)."""
    text = "".join(traceback.format_exception(exc))
    data = text.encode("utf-8")
    if len(data) <= TRACEBACK_MAX_BYTES:
        return text
    marker = "…\n"
    keep = TRACEBACK_MAX_BYTES - len(marker.encode("utf-8"))
    return marker + data[-keep:].decode("utf-8", errors="ignore")


def build_error_info(exc: BaseException, *, attempts: int, retryable: bool | None = None) -> JSONObject:
    """The HTTP API `error_info` object for `exc`: `{error_type, message, traceback, attempts, retryable}`.

    `retryable` defaults to "not a `NonRetryableError`"; the traceback is at most 16 KiB.
    """
    return {
        "error_type": type(exc).__name__,
        "message": str(exc),
        "traceback": _traceback_text(exc),
        "attempts": attempts,
        "retryable": not isinstance(exc, NonRetryableError) if retryable is None else retryable,
    }
