"""Server-Sent Events transport (docs/reference/http-api.md): framing, keep-alive and clean cancellation.

The event *content* (snapshot, progress, resume buffers, `stream.end`) comes from the
execution package's streamers; this module only turns an async iterator of events into a
correct `text/event-stream` answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.responses import StreamingResponse

__all__ = (
    "KEEPALIVE_FRAME",
    "EventLike",
    "RETRY_FRAME",
    "SSE_HEADERS",
    "SseEvent",
    "encode_event",
    "event_stream_response",
    "sse_frames",
)

RETRY_FRAME = b"retry: 3000\n\n"
KEEPALIVE_FRAME = b": keep-alive\n\n"
KEEPALIVE_SECONDS = 15.0
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One event of a stream."""

    event: str
    """Event name, e.g. `execution.status`."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """JSON object; carries `type`, `timestamp` and `execution_id` (added by the streamers)."""
    event_id: str | None = None
    """UUIDv7 used for `Last-Event-ID` resume."""


class EventLike(Protocol):
    """What can be framed: `SseEvent`, or the execution package's `StreamEvent`."""

    @property
    def event(self) -> str: ...

    @property
    def data(self) -> Mapping[str, Any]: ...

    @property
    def event_id(self) -> str | None: ...


def encode_event(event: EventLike) -> bytes:
    """Frame one event: `id:`, `event:`, a single-line JSON `data:`, then a blank line."""
    lines = []
    if event.event_id:
        lines.append(f"id: {event.event_id}")
    lines.append(f"event: {event.event}")
    payload = json.dumps(dict(event.data), separators=(",", ":"), ensure_ascii=False, default=str)
    # json.dumps escapes CR/LF inside strings; the Unicode line separators are not SSE line breaks.
    lines.append(f"data: {payload}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


async def sse_frames(
    events: AsyncIterator[EventLike], *, keepalive_seconds: float = KEEPALIVE_SECONDS
) -> AsyncGenerator[bytes, None]:
    """Yield `retry:` first, then one frame per event, and `: keep-alive` after each idle period.

    The source is read in a helper task so a keep-alive never cancels it mid-step; when the
    client goes away (this generator is cancelled or closed) the source is closed too.
    """
    yield RETRY_FRAME
    iterator = aiter(events)
    pending: asyncio.Task[EventLike] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=keepalive_seconds)
            if not done:
                yield KEEPALIVE_FRAME
                continue
            task, pending = pending, None
            try:
                event = task.result()
            except StopAsyncIteration:
                return
            yield encode_event(event)
    finally:
        if pending is not None:
            pending.cancel()
            # wait() never raises the task's outcome; only a new cancellation of us propagates.
            await asyncio.wait({pending})
            if not pending.cancelled():
                pending.exception()
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()


def event_stream_response(
    events: AsyncIterator[EventLike], *, keepalive_seconds: float = KEEPALIVE_SECONDS
) -> StreamingResponse:
    """A `text/event-stream; charset=utf-8` answer with the contract's headers."""
    return StreamingResponse(
        sse_frames(events, keepalive_seconds=keepalive_seconds),
        media_type="text/event-stream",
        headers=dict(SSE_HEADERS),
    )
