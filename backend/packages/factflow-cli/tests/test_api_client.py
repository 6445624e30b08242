"""The HTTP side of the CLI against a real local HTTP server: headers, errors, exit codes, `--remote`."""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from factflow_cli import ApiError, CliError, ExitCode
from factflow_cli._client import ApiClient
from factflow_cli.main import cli

REPORT_WITH_ERROR = {
    "is_valid": False,
    "error_count": 1,
    "warning_count": 1,
    "issues": [
        {
            "severity": "error",
            "code": "E103",
            "path": "routes.r.adapters[0].type",
            "line": 6,
            "column": 9,
            "message": "Adapter type 'splitt' is not registered.",
            "suggestion": "'splitt' is not registered. Did you mean 'split'?",
        },
        {
            "severity": "warning",
            "code": "W503",
            "path": "",
            "line": 1,
            "column": 1,
            "message": "The pipeline has no init_message.",
            "suggestion": "Add init_message.",
        },
    ],
}
CLEAN_REPORT = {"is_valid": True, "error_count": 0, "warning_count": 0, "issues": []}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def reply(status: int, body: Any = None, **headers: str) -> Reply:
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    content_type = {"Content-Type": "application/json"} if not isinstance(body, bytes) else {}
    return Reply(status, raw, {**content_type, **headers})


class StubApi:
    """A real HTTP server on 127.0.0.1 answering with queued replies and recording every request."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.hold = False
        self.release = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
                if stub.hold:
                    stub.release.wait(30)
                answer = stub.replies.popleft() if stub.replies else reply(500, {"detail": "no reply queued"})
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and left is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        # A short poll interval only makes `shutdown()` return quickly at teardown.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, name="stub-api", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> StubApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def api() -> Iterator[StubApi]:
    with StubApi() as stub:
        yield stub


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def write(directory: Path, name: str, text: str = 'version: "1.0"\n') -> Path:
    path = directory / name
    path.write_text(text)
    return path


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args))


# ---------------------------------------------------------------- config validate --remote


def test_remote_posts_each_file_and_aggregates_reports(api: StubApi, tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: '1.0'\nname: ø\n")
    write(tmp_path, "b.yaml")
    api.replies.extend([reply(200, REPORT_WITH_ERROR), reply(200, CLEAN_REPORT)])
    result = run("--server", api.url + "/", "config", "validate", str(tmp_path), "--remote")
    assert result.exit_code == 1, result.output
    assert [(r.method, r.path) for r in api.requests] == [("POST", "/api/v1/configs/validate")] * 2
    assert json.loads(api.requests[0].body) == {"config_yaml": "version: '1.0'\nname: ø\n"}
    document = json.loads(result.stdout)
    assert (document["is_valid"], document["error_count"], document["warning_count"]) == (False, 1, 1)
    assert [file["path"] for file in document["files"]] == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]
    assert document["files"][0]["issues"] == REPORT_WITH_ERROR["issues"]
    assert document["files"][1]["is_valid"] is True


def test_remote_clean_report_exits_0(api: StubApi, tmp_path: Path) -> None:
    api.replies.append(reply(200, CLEAN_REPORT))
    result = run("--server", api.url, "config", "validate", str(write(tmp_path, "a.yaml")), "--remote")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["is_valid"] is True


def test_every_request_carries_the_cli_headers(api: StubApi, tmp_path: Path) -> None:
    api.replies.append(reply(200, CLEAN_REPORT))
    result = run(
        "--server", api.url, "--token", "s3cret", "config", "validate", str(write(tmp_path, "a.yaml")), "--remote"
    )
    assert result.exit_code == 0
    headers = {name.lower(): value for name, value in api.requests[0].headers.items()}
    assert headers["user-agent"] == "factflow-cli/0.1.0"
    assert headers["x-factflow-source"] == "cli"
    assert headers["accept"] == "application/json"
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["content-type"] == "application/json"


def test_server_and_token_come_from_the_environment_and_flags_win(
    api: StubApi, tmp_path: Path, closed_port_url: str
) -> None:
    path = str(write(tmp_path, "a.yaml"))
    api.replies.append(reply(200, CLEAN_REPORT))
    env = {"FACTFLOW_SERVER_URL": api.url, "FACTFLOW_API_TOKEN": "from-env"}
    assert run("config", "validate", path, "--remote", env=env).exit_code == 0
    assert api.requests[-1].headers["Authorization"] == "Bearer from-env"
    api.replies.append(reply(200, CLEAN_REPORT))
    flagged = {"FACTFLOW_SERVER_URL": closed_port_url, "FACTFLOW_API_TOKEN": "from-env"}
    assert (
        run("--server", api.url, "--token", "flag", "config", "validate", path, "--remote", env=flagged).exit_code == 0
    )
    assert api.requests[-1].headers["Authorization"] == "Bearer flag"
    api.replies.append(reply(200, CLEAN_REPORT))
    assert (
        run(
            "config", "validate", path, "--remote", env={"FACTFLOW_SERVER_URL": api.url, "FACTFLOW_API_TOKEN": ""}
        ).exit_code
        == 0
    )
    assert "Authorization" not in api.requests[-1].headers


ERROR_BODY = {
    "detail": "Body is over 2 MiB.",
    "error_code": "payload_too_large",
    "correlation_id": "0193c5a0-7f4e-7c3b-9a1e-2f0d4c8b6a10",
    "timestamp": "2025-03-01T09:30:12.345678Z",
}


@pytest.mark.parametrize(
    ("status", "exit_code"),
    [(400, 1), (401, 1), (404, 7), (409, 1), (413, 1), (422, 2), (429, 1), (500, 1), (503, 1)],
)
def test_http_errors_map_to_exit_codes_and_print_on_stderr(
    api: StubApi, tmp_path: Path, status: int, exit_code: int
) -> None:
    api.replies.append(reply(status, {**ERROR_BODY, "error_code": f"code_{status}"}))
    path = str(write(tmp_path, "a.yaml"))
    result = run("--server", api.url, "config", "validate", path, "--remote", "-o", "table")
    assert result.exit_code == exit_code
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"error: Body is over 2 MiB. [code_{status}, status {status}, correlation 0193c5a0-7f4e-7c3b-9a1e-2f0d4c8b6a10]"
    )
    if status == 401:
        assert "--token" in lines[1]
    else:
        assert len(lines) == 1


def test_json_mode_errors_are_one_json_object_on_stderr(api: StubApi, tmp_path: Path) -> None:
    api.replies.append(reply(413, ERROR_BODY))
    result = run("--server", api.url, "config", "validate", str(write(tmp_path, "a.yaml")), "--remote")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith('{\n  "error": {\n')
    assert json.loads(result.stderr) == {
        "error": {
            "status": 413,
            "error_code": "payload_too_large",
            "detail": "Body is over 2 MiB.",
            "correlation_id": "0193c5a0-7f4e-7c3b-9a1e-2f0d4c8b6a10",
        }
    }


def test_non_json_error_body_still_gives_status_and_correlation(api: StubApi, tmp_path: Path) -> None:
    api.replies.append(reply(502, b"<html>bad gateway</html>", **{"X-Correlation-ID": "corr-1"}))
    result = run("--server", api.url, "config", "validate", str(write(tmp_path, "a.yaml")), "--remote", "-o", "table")
    assert result.exit_code == 1
    assert result.stderr == "error: the server answered HTTP 502 Bad Gateway [status 502, correlation corr-1]\n"


def test_unreachable_server_exits_6(closed_port_url: str, tmp_path: Path) -> None:
    result = run(
        "--server", closed_port_url, "config", "validate", str(write(tmp_path, "a.yaml")), "--remote", "-o", "table"
    )
    assert result.exit_code == 6
    assert result.stderr.startswith(
        f"error: cannot reach the factflow server at {closed_port_url}/api/v1 (ConnectError"
    )
    assert result.stdout == ""


def test_timeout_exits_5(api: StubApi, tmp_path: Path) -> None:
    api.hold = True
    api.replies.append(reply(200, CLEAN_REPORT))
    result = run(
        "--server",
        api.url,
        "--timeout",
        "200ms",
        "config",
        "validate",
        str(write(tmp_path, "a.yaml")),
        "--remote",
        "-o",
        "table",
    )
    assert result.exit_code == 5
    assert "did not finish within the timeout of 0.2s" in result.stderr


def test_answer_that_is_not_a_report_fails(api: StubApi, tmp_path: Path) -> None:
    api.replies.append(reply(200, {"unexpected": True}))
    result = run("--server", api.url, "config", "validate", str(write(tmp_path, "a.yaml")), "--remote", "-o", "table")
    assert result.exit_code == 1
    assert "is not a validation report" in result.stderr


def test_non_utf8_file_is_refused_for_remote(api: StubApi, tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    result = run("--server", api.url, "config", "validate", str(path), "--remote", "-o", "table")
    assert result.exit_code == 1
    assert "is not UTF-8" in result.stderr
    assert api.requests == []


# ---------------------------------------------------------------- ApiClient directly


async def test_client_methods_params_and_errors(api: StubApi) -> None:
    api.replies.extend(
        [
            reply(200, {"configs": []}),
            reply(201, {"id": "c1"}),
            reply(204),
            reply(
                404,
                {
                    "detail": "Config 'x' does not exist.",
                    "error_code": "config_not_found",
                    "context": {"candidates": []},
                },
            ),
        ]
    )
    async with ApiClient(api.url + "/api/v1", token=None, timeout=5) as client:
        assert await client.get_json(
            "/configs", params={"state": "active", "limit": 5, "tag": None, "debug": True}
        ) == {"configs": []}
        assert await client.post_json("configs", {"config_yaml": "x"}) == {"id": "c1"}
        await client.delete("/configs/c1")
        with pytest.raises(ApiError) as excinfo:
            await client.get_json("/configs/x")
    assert [(r.method, r.path) for r in api.requests] == [
        ("GET", "/api/v1/configs?state=active&limit=5&debug=true"),
        ("POST", "/api/v1/configs"),
        ("DELETE", "/api/v1/configs/c1"),
        ("GET", "/api/v1/configs/x"),
    ]
    assert "Authorization" not in api.requests[0].headers
    error = excinfo.value
    assert (error.status, error.error_code, error.exit_code) == (404, "config_not_found", ExitCode.NOT_FOUND)
    assert error.body["context"] == {"candidates": []}


async def test_client_stream_checks_the_status_first(api: StubApi) -> None:
    api.replies.extend(
        [
            reply(200, b"event: ping\ndata: {}\n\n"),
            reply(401, {"detail": "Missing token.", "error_code": "unauthorized"}),
        ]
    )
    async with ApiClient(api.url + "/api/v1", token="t", timeout=5) as client:
        async with client.stream("GET", "/executions/e1/events", params={"timeout": 60}) as response:
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
        assert body == b"event: ping\ndata: {}\n\n"
        with pytest.raises(CliError) as excinfo:
            async with client.stream("GET", "/storage/events"):
                pass
    assert excinfo.value.status == 401
    assert excinfo.value.hint is not None and "--token" in excinfo.value.hint
    assert api.requests[0].path == "/api/v1/executions/e1/events?timeout=60"
