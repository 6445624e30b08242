"""Following an SSE stream of the API across reconnects, for `execution wait` and `storage watch`.

A dropped connection or a `stream.end` with reason `timeout`/`shutdown` leads to a reconnect
with `Last-Event-ID`, after a back-off of 1 s, 2 s, then 5 s (a `timeout` end reconnects at
once: the server only closed the stream because its lifetime ran out). Only a failed first
connection is fatal; later failures are retried until the caller's deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from httpx_sse import EventSource, SSEError

from ._client import ApiClient
from ._errors import ApiError, CliError
from ._exit_codes import ExitCode

if TYPE_CHECKING:
    from factflow_protocols import JSONObject

__all__ = ("BACKOFF_SECONDS", "SseEvent", "follow_events")

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = (1.0, 2.0, 5.0)
"""Delays before the 1st, 2nd and every later reconnect in a row."""

MAX_STREAM_SECONDS = 3600
"""The API's upper bound for a stream's `timeout`."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One event of the stream."""

    name: str
    """`event:` field, e.g. `execution.progress`, `stream.end`."""
    data: JSONObject
    """The decoded `data:` object (`{}` when it was not a JSON object)."""
    event_id: str | None
    """`id:` field."""


def stream_timeout(remaining: float | None) -> int:
    """The `timeout` query value for a stream: the remaining deadline, capped at 3600 s."""
    if remaining is None:
        return MAX_STREAM_SECONDS
    return max(1, min(MAX_STREAM_SECONDS, int(remaining + 0.999)))


def _retryable(error: CliError) -> bool:
    if isinstance(error, ApiError):
        return error.status is not None and error.status >= 500
    return error.exit_code in (ExitCode.UNREACHABLE, ExitCode.TIMED_OUT, ExitCode.FAILURE)


def _decode(data: str) -> JSONObject:
    try:
        value = json.loads(data) if data else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _Connection:
    """The state carried from one connection of a follow to the next."""

    def __init__(self, api: ApiClient, path: str, on_event: Callable[[SseEvent], bool]) -> None:
        self.api = api
        self.path = path
        self.on_event = on_event
        self.last_event_id: str | None = None
        self.connected = False
        """Some connection has opened (only a failed first connection is fatal)."""
        self.opened = False
        """The last connection opened."""
        self.error_event: JSONObject = {}

    async def read(self, params: Mapping[str, Any]) -> str | None:
        """Read one connection; None when `on_event` ended the follow, else why the stream ended."""
        # The client's usual headers (`Accept: application/json` included, as on every request).
        headers = {"Cache-Control": "no-store"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        self.opened = False
        try:
            async with self.api.stream("GET", self.path, params=params, headers=headers) as response:
                self.connected = self.opened = True
                async for sse in EventSource(response).aiter_sse():
                    if sse.id:
                        self.last_event_id = sse.id
                    event = SseEvent(name=sse.event, data=_decode(sse.data), event_id=sse.id or None)
                    if event.name == "error":
                        self.error_event = event.data
                    if self.on_event(event):
                        return None
                    if event.name == "stream.end":
                        return str(event.data.get("reason") or "dropped")
        except CliError as error:
            if not self.connected or not _retryable(error):
                raise
            return "unreachable"
        except (httpx.TransportError, SSEError) as exc:
            if not self.connected:
                raise CliError(
                    f"the event stream at {self.api.api_url}{self.path} failed ({type(exc).__name__})"
                ) from exc
        return "dropped"


async def follow_events(
    api: ApiClient,
    path: str,
    *,
    params: Callable[[float | None], Mapping[str, Any]],
    remaining: Callable[[], float | None],
    on_event: Callable[[SseEvent], bool],
    on_reconnect: Callable[[str], None] | None = None,
) -> None:
    """Follow the stream at `path` until `on_event` returns True or the stream ends `terminal`.

    Args:
        api: The client.
        path: The SSE endpoint, e.g. `/executions/<ref>/events`.
        params: Query parameters of one connection, given the seconds left (None: no deadline).
        remaining: Seconds left before the caller's deadline (None: none); the caller enforces it.
        on_event: Called for every event, `stream.end` included; True ends the follow.
        on_reconnect: Called with the reason before each reconnect (for notes on stderr).

    Raises:
        CliError: the first connection failed, the server refused a reconnect with a 4xx
            answer, or the stream ended with an `error` event.
    """
    connection = _Connection(api, path, on_event)
    failures = 0
    while True:
        reason = await connection.read(params(remaining()))
        if reason is None or reason == "terminal":
            return
        if reason == "error":
            detail = connection.error_event.get("detail") or "the event stream ended with an error"
            code = connection.error_event.get("error_code")
            raise CliError(str(detail), error_code=str(code) if code else None)
        if connection.opened:
            failures = 0  # the back-off counts failed reconnects in a row
        if on_reconnect is not None:
            on_reconnect(reason)
        logger.debug("reconnecting to %s after %s (Last-Event-ID %s)", path, reason, connection.last_event_id)
        if reason == "timeout":
            continue  # the stream's lifetime ran out; nothing to back off from
        delay = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
        failures += 1
        left = remaining()
        await asyncio.sleep(delay if left is None else max(0.0, min(delay, left)))
