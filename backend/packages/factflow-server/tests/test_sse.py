"""SSE framing and keep-alive of the transport, over a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI

from factflow_server._sse import SseEvent, encode_event, event_stream_response, sse_frames
from factflow_server.testing import RunningServer, embedded_settings, serve_in_thread


def _add_stream(app: FastAPI) -> None:
    @app.get("/api/v1/_test/stream")
    async def stream(count: int = 3, gap: float = 0.0, keepalive: float = 15.0) -> object:
        async def events() -> AsyncIterator[SseEvent]:
            for index in range(count):
                if gap:
                    await asyncio.sleep(gap)
                yield SseEvent("tick", {"type": "tick", "n": index, "text": "line\nbreak"}, event_id=f"id-{index}")
            yield SseEvent("stream.end", {"type": "stream.end", "reason": "terminal"}, event_id="id-end")

        return event_stream_response(events(), keepalive_seconds=keepalive)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve_in_thread(embedded_settings(tmp_path_factory.mktemp("sse")), configure_app=_add_stream) as running:
        yield running


def test_encode_event_is_single_line_json() -> None:
    frame = encode_event(SseEvent("x.y", {"a": "multi\nline", "b": 1}, event_id="01"))
    assert frame == b'id: 01\nevent: x.y\ndata: {"a":"multi\\nline","b":1}\n\n'


def test_stream_framing_and_headers(server: RunningServer) -> None:
    with server.client() as client, client.stream("GET", "/api/v1/_test/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["x-correlation-id"]
        body = response.read().decode()
    blocks = body.split("\n\n")
    assert blocks[0] == "retry: 3000"
    events = [block for block in blocks[1:] if block]
    assert len(events) == 4
    first = events[0].split("\n")
    assert first[0] == "id: id-0"
    assert first[1] == "event: tick"
    assert json.loads(first[2].removeprefix("data: ")) == {"type": "tick", "n": 0, "text": "line\nbreak"}
    assert events[-1].startswith("id: id-end\nevent: stream.end\n")


def test_keepalive_comment_when_idle(server: RunningServer) -> None:
    params = {"count": "1", "gap": "0.6", "keepalive": "0.2"}
    with server.client() as client, client.stream("GET", "/api/v1/_test/stream", params=params) as response:
        body = response.read().decode()
    assert body.startswith("retry: 3000\n\n: keep-alive\n\n")
    assert body.index(": keep-alive") < body.index("event: tick")


async def test_source_is_closed_when_the_client_goes_away() -> None:
    closed = asyncio.Event()
    blocked = asyncio.Event()

    async def source() -> AsyncIterator[SseEvent]:
        try:
            yield SseEvent("one", {"type": "one"})
            blocked.set()
            await asyncio.Event().wait()
            yield SseEvent("never", {})
        finally:
            closed.set()

    frames = sse_frames(source(), keepalive_seconds=60)
    assert await anext(frames) == b"retry: 3000\n\n"
    assert (await anext(frames)).startswith(b"event: one")
    pending = asyncio.ensure_future(anext(frames))
    async with asyncio.timeout(5):
        await blocked.wait()  # the source is now parked inside the stream's helper task
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    await frames.aclose()
    async with asyncio.timeout(5):
        await closed.wait()


def test_client_disconnect_mid_stream_keeps_server_healthy(server: RunningServer) -> None:
    params = {"count": "1000", "gap": "0.01"}
    with server.client() as client:
        with client.stream("GET", "/api/v1/_test/stream", params=params) as response:
            lines = response.iter_lines()
            assert next(lines) == "retry: 3000"
        assert client.get("/metrics").status_code == 200
