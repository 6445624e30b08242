"""Shared router settings: the API prefix and the error answers every endpoint documents."""

from __future__ import annotations

from typing import Any

from .._middleware import API_PREFIX
from ..schemas._common import ErrorResponse

__all__ = ("API_PREFIX", "ERROR_RESPONSES", "errors")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token"},
    422: {"model": ErrorResponse, "description": "Malformed input"},
    500: {"model": ErrorResponse, "description": "Unexpected fault"},
    503: {"model": ErrorResponse, "description": "A dependency is down or not started"},
}
"""Answers any `/api/v1` endpoint may give (docs/reference/http-api.md)."""


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting endpoint-specific error statuses with `ErrorResponse`."""
    return {status: {"model": ErrorResponse} for status in statuses}
