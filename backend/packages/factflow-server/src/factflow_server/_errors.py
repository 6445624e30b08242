"""The error envelope: `ApiError`, the code → status table, and the exception handlers.

Every non-2xx answer carries an `ErrorResponse` (docs/reference/http-api.md). Domain errors raised by the
services below (`FactflowError` subclasses with a stable `code`) are translated here, so route
handlers simply let them propagate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from factflow_foundation import (
    ConflictError,
    FactflowError,
    InvalidStateError,
    NotFoundError,
    ServiceUnavailableError,
    utc_now,
)
from factflow_protocols import InvalidStorageKeyError, StorageNotFoundError
from factflow_replay import ReplayError

from .schemas._common import ErrorItem, ErrorResponse

__all__ = (
    "ApiError",
    "error_response",
    "install_error_handlers",
    "status_for_code",
    "translate_unavailable_code",
)

logger = logging.getLogger(__name__)

_STATUS_BY_CODE: dict[str, int] = {
    "yaml_parse_error": 400,
    "config_invalid": 400,
    "invalid_status_transition": 400,
    "unknown_stage": 400,
    "ambiguous_stage": 400,
    "unknown_route": 400,
    "nothing_to_replay": 400,
    "unauthorized": 401,
    "not_found": 404,
    "config_not_found": 404,
    "execution_not_found": 404,
    "route_not_found": 404,
    "object_not_found": 404,
    "lineage_not_found": 404,
    "batch_not_found": 404,
    "adapter_not_found": 404,
    "worker_not_found": 404,
    "replay_source_empty": 404,
    "method_not_allowed": 405,
    "config_inactive": 409,
    "tag_conflict": 409,
    "version_conflict": 409,
    "payload_too_large": 413,
    "request_validation_error": 422,
    "invalid_key": 422,
    "too_many_concurrent_executions": 429,
    "internal_error": 500,
    "database_unavailable": 503,
    "queue_unavailable": 503,
    "storage_unavailable": 503,
    "orchestrator_unavailable": 503,
    "event_streamer_unavailable": 503,
}

RETRY_AFTER_SECONDS = 5
"""`Retry-After` on 429 and 503 answers."""

_UNAVAILABLE_CODES = frozenset(code for code, status in _STATUS_BY_CODE.items() if status == 503)
_UNAVAILABLE_HINTS = (
    ("database", "database_unavailable"),
    ("sql", "database_unavailable"),
    ("queue", "queue_unavailable"),
    ("redis", "queue_unavailable"),
    ("storage", "storage_unavailable"),
    ("stream", "event_streamer_unavailable"),
    ("event", "event_streamer_unavailable"),
)

_HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def status_for_code(code: str) -> int | None:
    """The HTTP status the contract assigns to `code`, or None when it names no contract code."""
    return _STATUS_BY_CODE.get(code)


def translate_unavailable_code(code: str, context: Mapping[str, Any] | None = None) -> str:
    """Map a `ServiceUnavailableError` code onto one of the five 503 component codes."""
    if code in _UNAVAILABLE_CODES:
        return code
    component = str((context or {}).get("component", ""))
    for candidate in (component, code):
        for hint, mapped in _UNAVAILABLE_HINTS:
            if hint in candidate.lower():
                return mapped
    return "orchestrator_unavailable"


class ApiError(Exception):
    """An error answer raised by the API layer itself.

    Args:
        status_code: HTTP status.
        error_code: Stable snake_case code.
        detail: One sentence naming the offending value.
        context: Structured facts for the client.
        validation_report: A validator report (`ValidationReport.to_dict()` shape).
        headers: Extra response headers (e.g. `Retry-After`).
    """

    def __init__(
        self,
        status_code: int,
        error_code: str,
        detail: str,
        *,
        context: dict[str, Any] | None = None,
        validation_report: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.error_code = error_code
        self.detail = detail
        self.context = context
        self.validation_report = validation_report
        self.headers = headers


def _correlation_id(request: Request) -> str:
    return str(getattr(request.state, "correlation_id", "") or "")


def error_response(
    correlation_id: str,
    status_code: int,
    error_code: str,
    detail: str,
    *,
    errors: list[ErrorItem] | None = None,
    validation_report: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build the JSON answer carrying an `ErrorResponse`."""
    body = ErrorResponse.model_validate(
        {
            "detail": detail,
            "error_code": error_code,
            "correlation_id": correlation_id,
            "timestamp": utc_now(),
            "errors": [item.model_dump() for item in errors] if errors is not None else None,
            "validation_report": validation_report,
            "context": context or None,
        }
    )
    merged = dict(headers or {})
    if correlation_id:
        merged["X-Correlation-ID"] = correlation_id
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=merged)


def _report_of(exc: BaseException) -> dict[str, Any] | None:
    report = getattr(exc, "report", None)
    to_dict = getattr(report, "to_dict", None)
    if callable(to_dict):
        value = to_dict()
        return value if isinstance(value, dict) else None
    return None


def _status_for_factflow_error(exc: FactflowError) -> tuple[int, str]:
    code = exc.code
    if isinstance(exc, ServiceUnavailableError):
        return 503, translate_unavailable_code(code, exc.context)
    if isinstance(exc, StorageNotFoundError):
        return 404, "object_not_found"
    if isinstance(exc, InvalidStorageKeyError):
        return 422, "invalid_key"
    known = status_for_code(code)
    if known is not None:
        return known, code
    if isinstance(exc, NotFoundError):
        return 404, code
    if isinstance(exc, ConflictError):
        return 409, code
    if isinstance(exc, InvalidStateError | ReplayError):
        return 400, code
    if _report_of(exc) is not None:
        return 400, "config_invalid"
    return 500, "internal_error"


def factflow_error_response(request: Request, exc: FactflowError) -> Response:
    """Translate a domain error into its contract answer."""
    status_code, error_code = _status_for_factflow_error(exc)
    correlation_id = _correlation_id(request)
    if status_code >= 500 and status_code != 503:
        logger.error("unexpected error %s (correlation %s)", error_code, correlation_id, exc_info=exc)
        return error_response(correlation_id, 500, "internal_error", "The server hit an unexpected error.")
    # A full server (429) and a dependency that is down (503) are both worth retrying shortly.
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status_code in (429, 503) else None
    if status_code == 503:
        logger.warning("dependency unavailable: %s: %s (correlation %s)", error_code, exc.message, correlation_id)
    context = dict(exc.context)
    field_errors = None
    if status_code == 422 and isinstance(context.get("errors"), list):
        try:
            field_errors = [ErrorItem.model_validate(item) for item in context["errors"]]
            del context["errors"]
        except ValidationError:
            field_errors = None  # not field errors after all: leave them in `context`
    return error_response(
        correlation_id,
        status_code,
        error_code,
        exc.message,
        errors=field_errors,
        validation_report=_report_of(exc),
        context=context or None,
        headers=headers,
    )


def _loc(loc: Any) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def _validation_detail(errors: list[ErrorItem]) -> str:
    if not errors:
        return "The request is malformed."
    first = errors[0]
    where = ".".join(str(part) for part in first.loc) or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"Invalid value at {where!r}: {first.msg}{more}."


async def _handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(
        _correlation_id(request),
        exc.status_code,
        exc.error_code,
        exc.detail,
        validation_report=exc.validation_report,
        context=exc.context,
        headers=exc.headers,
    )


async def _handle_factflow_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FactflowError)
    return factflow_error_response(request, exc)


async def _handle_request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    items = [
        ErrorItem(loc=_loc(error.get("loc", ())), msg=str(error.get("msg", "")), type=str(error.get("type", "")))
        for error in exc.errors()
    ]
    return error_response(
        _correlation_id(request), 422, "request_validation_error", _validation_detail(items), errors=items
    )


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # Only the framework raises a bare 400: a body it could not decode (e.g. not UTF-8).
        return error_response(
            _correlation_id(request), 422, "request_validation_error", "The request body could not be parsed."
        )
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        detail = f"No endpoint at {request.url.path!r}."
    elif exc.status_code == 405:
        detail = f"Method {request.method} is not allowed on {request.url.path!r}."
    else:
        detail = str(exc.detail)
    if exc.status_code >= 500:
        code, detail = "internal_error", "The server hit an unexpected error."
    return error_response(_correlation_id(request), exc.status_code, code, detail, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the envelope handlers; unexpected exceptions are answered by the request middleware."""
    app.add_exception_handler(ApiError, _handle_api_error)
    app.add_exception_handler(FactflowError, _handle_factflow_error)
    app.add_exception_handler(RequestValidationError, _handle_request_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
