"""Reconnects of an event stream, against a real local HTTP server that scripts what the stream does.

The live-server tests cover the normal cases; here the stream ends with `timeout`, then drops
without `stream.end`, then ends `terminal`, so each reconnect rule of cli.md §4.2 is visible.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from factflow_cli.main import cli

EXECUTION_ID = "01a20000-0000-7000-8000-0000000000aa"
STATS = {
    "execution_id": EXECUTION_ID,
    "status": "completed",
    "elapsed_ms": 1234.5,
    "message_counts": {"published": 3, "handled": 3, "in_flight": 0, "dead_lettered": 0, "tolerated_failures": 0},
    "stage_counts": {"total": 3, "completed": 3, "failed": 0},
}


def frame(event_id: str, name: str, data: dict[str, Any]) -> bytes:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data)}\n\n".encode()


SNAPSHOT = {"execution": {"id": EXECUTION_ID, "execution_id": EXECUTION_ID, "status": "running"}}
STREAMS = [
    frame("e1", "execution.snapshot", SNAPSHOT) + frame("e2", "stream.end", {"reason": "timeout", "status": "running"}),
    frame("e3", "execution.progress", {"published": 3, "handled": 1}),  # then the connection drops
    frame("e4", "execution.snapshot", SNAPSHOT)
    + frame("e5", "stream.end", {"reason": "terminal", "status": "completed"}),
]


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    last_event_id: str | None
    accept: str | None
    at: float


class ScriptedApi:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        streams = list(STREAMS)
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                api.seen.append(
                    Seen(
                        parts.path,
                        parse_qs(parts.query),
                        self.headers.get("Last-Event-ID"),
                        self.headers.get("Accept"),
                        time.monotonic(),
                    )
                )
                if parts.path.endswith("/events"):
                    body = streams.pop(0)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b"retry: 3000\n\n" + body)
                    self.close_connection = True
                    return
                payload = json.dumps(STATS).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, name="scripted-api", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"


@pytest.fixture
def api() -> Iterator[ScriptedApi]:
    scripted = ScriptedApi()
    scripted.thread.start()
    try:
        yield scripted
    finally:
        scripted.server.shutdown()
        scripted.server.server_close()
        scripted.thread.join(10)


def test_wait_reconnects_with_last_event_id_and_backs_off_after_a_drop(api: ScriptedApi) -> None:
    result = CliRunner().invoke(
        cli, ["--server", api.url, "--timeout", "60s", "execution", "wait", "my-tag", "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert (outcome["execution_id"], outcome["status"], outcome["completed"]) == (EXECUTION_ID, "completed", True)
    assert outcome["duration_ms"] == 1234.5
    events = [seen for seen in api.seen if seen.path.endswith("/events")]
    assert [seen.path for seen in events] == ["/api/v1/executions/my-tag/events"] * 3
    assert [seen.last_event_id for seen in events] == [None, "e2", "e3"]
    for seen in events:
        assert seen.query["include_messages"] == ["false"]
        assert 1 <= int(seen.query["timeout"][0]) <= 60  # the deadline left, in whole seconds
        assert seen.accept == "application/json"
    assert events[2].at - events[1].at >= 0.95  # a dropped connection waits 1 s before reconnecting
    assert [seen.path for seen in api.seen][-1] == f"/api/v1/executions/{EXECUTION_ID}/stats"
