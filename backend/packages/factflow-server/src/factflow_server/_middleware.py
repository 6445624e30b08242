"""Pure ASGI middleware: correlation ids and last-resort errors, bearer auth, body size limit.

Pure ASGI (not `BaseHTTPMiddleware`) so SSE streams pass through untouched. Order, outermost
first: `RequestContextMiddleware` → `AuthMiddleware` → `BodyLimitMiddleware` → the app.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from factflow_foundation import new_id

from ._errors import error_response

__all__ = (
    "API_PREFIX",
    "MAX_BODY_BYTES",
    "AuthMiddleware",
    "BodyLimitMiddleware",
    "RequestContextMiddleware",
    "RequestObserver",
    "valid_correlation_id",
)

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 2 * 1024 * 1024
"""Default body limit (`FACTFLOW_MAX_REQUEST_BYTES`); bigger bodies get 413 (docs/reference/http-api.md)."""
DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
"""An oversized body up to this size is read and discarded before the 413, so the client (still
sending) reliably gets the answer; anything bigger is cut off by closing the connection."""
_HEALTH_PATH = f"{API_PREFIX}/system/health"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

RequestObserver = Callable[[str, str, int, float], None]
"""Told `(method, path_template, status, seconds)` once per finished HTTP request."""


def valid_correlation_id(value: str | None) -> bool:
    """Whether a client's `X-Correlation-ID` may be echoed: 1–128 printable ASCII characters."""
    return bool(value) and len(value or "") <= 128 and all(0x20 <= ord(char) <= 0x7E for char in value or "")


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def _path_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    """Assigns the correlation id, echoes it on every answer, and turns crashes into a 500 envelope.

    It also times each request for the HTTP metrics (`observer`).
    """

    def __init__(self, app: ASGIApp, *, observer: RequestObserver | None = None) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = Headers(scope=scope).get("x-correlation-id")
        correlation_id = supplied if supplied is not None and valid_correlation_id(supplied) else new_id()
        _state(scope)["correlation_id"] = correlation_id
        started = time.perf_counter()
        status_holder = [500]
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder[0] = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers["X-Correlation-ID"] = correlation_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            logger.error(
                "unhandled error on %s %s (correlation %s)",
                scope.get("method"),
                scope.get("path"),
                correlation_id,
                exc_info=exc,
            )
            if response_started:
                raise
            status_holder[0] = 500
            response = error_response(correlation_id, 500, "internal_error", "The server hit an unexpected error.")
            await response(scope, receive, send)
        finally:
            elapsed = time.perf_counter() - started
            if self.observer is not None:
                self.observer(str(scope.get("method", "")), _path_template(scope), status_holder[0], elapsed)
            logger.debug(
                "%s %s -> %d in %.1f ms (correlation %s)",
                scope.get("method"),
                scope.get("path"),
                status_holder[0],
                elapsed * 1000,
                correlation_id,
            )


class AuthMiddleware:
    """Optional bearer-token check for `/api/v1` (docs/reference/http-api.md).

    With a token configured every `/api/v1` path except `GET /api/v1/system/health` needs
    `Authorization: Bearer <token>`. The scope state `authorized` tells health whether it may
    show its `debug` block.
    """

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self._token = token.encode("utf-8") if token else None

    def _authorized(self, scope: Scope) -> bool:
        if self._token is None:
            return True
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return False
        return hmac.compare_digest(credentials.strip().encode("utf-8"), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorized = self._authorized(scope)
        _state(scope)["authorized"] = authorized
        path: str = scope.get("path", "")
        protected = path == API_PREFIX or path.startswith(API_PREFIX + "/")
        exempt = path == _HEALTH_PATH and scope.get("method") in ("GET", "HEAD")
        if authorized or not protected or exempt:
            await self.app(scope, receive, send)
            return
        correlation_id = str(_state(scope).get("correlation_id", ""))
        response = error_response(
            correlation_id,
            401,
            "unauthorized",
            "A valid `Authorization: Bearer <token>` header is required.",
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses request bodies over `limit` bytes with 413 `payload_too_large`.

    The body is read up to the limit and replayed to the app, so chunked uploads are bounded
    too. An oversized body (declared or streamed) is never passed on: up to `DRAIN_LIMIT_BYTES`
    of it are read and dropped, then the 413 goes out with `Connection: close`.
    """

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, received: int, done: bool) -> None:
        # Let the client finish sending (within a bound) so it reads the answer instead of a reset.
        while not done and received <= DRAIN_LIMIT_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            received += len(message.get("body", b""))
            done = not message.get("more_body", False)
        correlation_id = str(_state(scope).get("correlation_id", ""))
        response = error_response(
            correlation_id,
            413,
            "payload_too_large",
            f"The request body exceeds the limit of {self.limit} bytes.",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send, received=0, done=int(declared) > DRAIN_LIMIT_BYTES)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body: bytes = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await self._refuse(scope, receive, send, received=size, done=not message.get("more_body", False))
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
