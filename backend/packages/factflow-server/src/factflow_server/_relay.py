"""Writes (and waits) a standby takes in: relayed to the leader through Redis, answered by its own app.

The standby packs the HTTP request (method, path, query, headers, body) into a relay request; the
leader replays it against its ASGI app in process (auth, limits and error envelopes as for any
request) and sends status, headers and body back. No answer within `RELAY_TIMEOUT_SECONDS` (no
leader, or it died with the request) is 503 `orchestrator_unavailable`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope

from factflow_infra.workers import RedisRequestRelay, RelayHandler

__all__ = ("RELAY_TIMEOUT_SECONDS", "answer_relayed", "relay_request")

RELAY_TIMEOUT_SECONDS = 30.0
"""How long a standby waits for the leader's answer (a takeover takes well under this)."""

_DEFAULT_WAIT_SECONDS = 300.0
_MAX_WAIT_SECONDS = 3600.0
_HOP_HEADERS = frozenset({b"host", b"content-length", b"connection", b"transfer-encoding", b"keep-alive"})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def relay_request(scope: Scope, receive: Receive, relay: RedisRequestRelay) -> Response | None:
    """Hand this request to the leader and return its answer; None when no answer came in time.

    A wait (`/wait`) may last as long as its own `timeout`: the leader gets that long plus
    `RELAY_TIMEOUT_SECONDS` to answer it.

    Raises:
        QueueUnavailableError: Redis cannot be reached.
    """
    headers = [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, value in scope.get("headers", [])
        if name.lower() not in _HOP_HEADERS
    ]
    correlation_id = (scope.get("state") or {}).get("correlation_id")
    if correlation_id:  # the leader logs the request under the id the client sees
        headers = [pair for pair in headers if pair[0].lower() != "x-correlation-id"]
        headers.append(["x-correlation-id", str(correlation_id)])
    body = await _read_body(receive)
    request = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope.get("query_string", b"").decode("latin-1"),
        "headers": headers,
        "body": base64.b64encode(body).decode("ascii"),
    }
    timeout = RELAY_TIMEOUT_SECONDS
    if scope["path"].endswith("/wait"):
        timeout += _wait_seconds(body)
    reply = await relay.submit(request, timeout_seconds=timeout)
    if reply is None:
        return None
    response = Response(content=base64.b64decode(reply["body"]), status_code=int(reply["status"]))
    response.raw_headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in reply["headers"]
        if name.lower().encode("latin-1") not in _HOP_HEADERS
    ] + [(b"content-length", str(len(response.body)).encode("ascii"))]
    return response


def _wait_seconds(body: bytes) -> float:
    """The wait's own `timeout` (default 300 s, at most 3600 s); the leader validates the body."""
    try:
        timeout = json.loads(body or b"{}").get("timeout", _DEFAULT_WAIT_SECONDS)
        return min(max(float(timeout), 0.0), _MAX_WAIT_SECONDS)
    except (ValueError, TypeError, AttributeError):
        return 0.0


def answer_relayed(app: ASGIApp) -> RelayHandler:
    """The leader's handler: run a relayed request through `app` and capture the answer."""

    async def answer(request: dict[str, Any]) -> dict[str, Any]:
        body = base64.b64decode(request["body"])
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request["method"],
            "scheme": "http",
            "path": request["path"],
            "raw_path": request["path"].encode("utf-8"),
            "query_string": request["query"].encode("latin-1"),
            "root_path": "",
            "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in request["headers"]]
            + [(b"content-length", str(len(body)).encode("ascii"))],
            "client": ("relay", 0),
            "server": ("relay", 0),
        }
        sent = False
        status = 500
        headers: list[list[str]] = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers.extend(
                    [name.decode("latin-1"), value.decode("latin-1")] for name, value in message.get("headers", [])
                )
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return {"status": status, "headers": headers, "body": base64.b64encode(b"".join(chunks)).decode("ascii")}

    return answer
