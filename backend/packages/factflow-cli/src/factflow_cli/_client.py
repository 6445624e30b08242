"""The HTTP client of every server-backed command: headers, timeouts and error mapping (docs/reference/cli.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json as _json
import ssl
from collections.abc import AsyncIterator, Coroutine, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._errors import ApiError, CliError
from ._exit_codes import ExitCode
from ._version import cli_version

__all__ = ("ApiClient", "run_async")

T = TypeVar("T")

# httpx enforces the timeout per phase (connect, each read); this outer guard bounds the whole
# exchange. It fires a little later so that a connect timeout still surfaces as "unreachable".
_OVERALL_GRACE_SECONDS = 1.0

_NO_TLS_CONTEXT = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

BODY_LIMIT_BYTES = 2 * 1024 * 1024
"""Request bodies above this are refused by the API (HTTP 413)."""


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; Ctrl+C propagates as KeyboardInterrupt (exit 130)."""
    return asyncio.run(coroutine)


class ApiClient:
    """An async client of `/api/v1`.

    Every request carries `User-Agent: factflow-cli/<version>`, `X-Factflow-Source: cli`,
    `Accept: application/json` and, with a token, `Authorization: Bearer <token>`. Failures
    become `CliError`s with the exit codes of docs/reference/cli.md: unreachable server 6, timeout 5,
    HTTP errors by status (`ApiError`).

    Args:
        api_url: The API root, e.g. `http://localhost:8000/api/v1`.
        token: Bearer token, or None.
        timeout: Seconds per HTTP exchange; None for no limit.
    """

    def __init__(self, api_url: str, *, token: str | None, timeout: float | None) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        headers = {
            "User-Agent": f"factflow-cli/{cli_version()}",
            "X-Factflow-Source": "cli",
            "Accept": "application/json",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # A plain-HTTP server never needs TLS, so the CA bundle is not loaded (~0.1 s per command); the
        # bare context would refuse any certificate if it were ever used.
        verify: ssl.SSLContext | bool = True if self.api_url.startswith("https:") else _NO_TLS_CONTEXT
        self._http = httpx.AsyncClient(
            base_url=self.api_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            verify=verify,
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _url(self, path: str) -> str:
        return self.api_url + "/" + path.lstrip("/")

    def _overall(self) -> contextlib.AbstractAsyncContextManager[object]:
        if self.timeout is None:
            return contextlib.nullcontext()
        return asyncio.timeout(self.timeout + _OVERALL_GRACE_SECONDS)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One exchange; returns a 2xx response (body read), raises `CliError`/`ApiError` otherwise."""
        content = (
            None
            if json is None
            else _json.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        )
        if content is not None:
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            async with self._overall():
                response = await self._http.request(
                    method, self._url(path), params=_clean_params(params), content=content, headers=headers
                )
        except (httpx.TransportError, TimeoutError) as exc:
            if content is not None and len(content) > BODY_LIMIT_BYTES and isinstance(exc, httpx.TransportError):
                # The server answers 413 before reading such a body and closes the connection, which
                # the client only sees as a broken exchange.
                raise CliError(
                    f"the request body is {len(content):,} bytes, over the API's limit of {BODY_LIMIT_BYTES:,} bytes",
                    error_code="payload_too_large",
                ) from exc
            raise self._transport_error(exc, method, path) from exc
        if not response.is_success:
            raise _api_error(response)
        return response

    async def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode the JSON body."""
        return _decode(await self.request("GET", path, params=params))

    async def post_json(self, path: str, body: Any = None, *, params: Mapping[str, Any] | None = None) -> Any:
        """POST a JSON body and decode the JSON answer (None for an empty body)."""
        return _decode(await self.request("POST", path, params=params, json=body))

    async def put_json(self, path: str, body: Any) -> Any:
        """PUT a JSON body and decode the JSON answer."""
        return _decode(await self.request("PUT", path, json=body))

    async def patch_json(self, path: str, body: Any) -> Any:
        """PATCH a JSON body and decode the JSON answer."""
        return _decode(await self.request("PATCH", path, json=body))

    async def delete(self, path: str) -> None:
        """DELETE; a 204 is success."""
        await self.request("DELETE", path)

    async def delete_json(self, path: str) -> Any:
        """DELETE and decode the JSON answer (None for an empty body)."""
        return _decode(await self.request("DELETE", path))

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """A streamed exchange (SSE, object bytes); the status is checked before the body is read.

        Only connecting and the response head are bounded by the timeout; the caller bounds the body.
        """
        request = self._http.build_request(method, self._url(path), params=_clean_params(params), headers=headers)
        try:
            async with self._overall():
                response = await self._http.send(request, stream=True)
        except (httpx.TransportError, TimeoutError) as exc:
            raise self._transport_error(exc, method, path) from exc
        try:
            if not response.is_success:
                await response.aread()
                raise _api_error(response)
            yield response
        finally:
            await response.aclose()

    def _transport_error(self, exc: BaseException, method: str, path: str) -> CliError:
        where = self._url(path)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return CliError(
                f"cannot reach the factflow server at {self.api_url} ({_reason(exc)})", exit_code=ExitCode.UNREACHABLE
            )
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            return CliError(
                f"{method} {where} did not finish within the timeout of {self.timeout:g}s", exit_code=ExitCode.TIMED_OUT
            )
        return CliError(f"{method} {where} failed ({_reason(exc)})", exit_code=ExitCode.FAILURE)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # None means "not given"; booleans go out as the API's `true`/`false`.
    if params is None:
        return None
    cleaned: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        cleaned[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return cleaned


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise CliError(
            f"the server answered {response.request.method} {response.request.url} with a body that is not JSON"
        ) from exc


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body: object = response.json()
    except ValueError:
        body = None
    return ApiError.from_response(
        response.status_code,
        body,
        reason=response.reason_phrase,
        correlation_id=response.headers.get("X-Correlation-ID"),
    )
