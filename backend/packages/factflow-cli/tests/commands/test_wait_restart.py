"""`execution wait` across a server restart: it reconnects and ends with the execution's final status.

The server runs as a real child process (`python -m factflow_server serve --embedded`) so it can
be stopped with SIGINT and started again on the same port and data directory.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from factflow_server.testing import ServerProcess, skip_in_worker_mode

pytestmark = [
    pytest.mark.slow,
    skip_in_worker_mode("restarts an embedded server process (`serve --embedded`) on its own data directory"),
]

FACTFLOW = str(Path(sys.executable).with_name("factflow"))

SLOW_YAML = """\
version: "1.0"
name: restart-slow
routes:
  restart_sleeper:
    inbound: {queue: restart.in}
    adapters:
      - {type: delay, config: {ms: 60000}}
init_message: {route: restart_sleeper, payload: {n: 1}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, data_dir: Path, **env: str) -> ServerProcess:
    server = ServerProcess.start(
        ["serve", "--embedded", "--port", str(port), "--log-level", "warning"],
        env={
            "FACTFLOW_DATA_DIR": str(data_dir),
            "FACTFLOW_PIPELINES_DIR": str(data_dir / "pipelines"),
            "FACTFLOW_SHUTDOWN_GRACE_SECONDS": "0",
            **env,
        },
    )
    try:
        server.wait_until_listening()
    except BaseException:
        server.kill()
        raise
    return server


def read_until(master: int, marker: bytes, *, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > deadline:
            pytest.fail(f"no {marker!r} on the terminal within {timeout} s: {seen!r}")
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            seen += os.read(master, 65536)
    return seen


def drain(master: int) -> None:
    with contextlib.suppress(OSError):
        while os.read(master, 65536):
            pass


def test_wait_reconnects_after_a_restart_and_exits_4_on_interrupted(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "pipelines").mkdir()
    base_url = f"http://127.0.0.1:{port}"
    first = start_server(port, tmp_path)
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            config = client.post("/api/v1/configs", json={"config_yaml": SLOW_YAML})
            assert config.status_code == 201, config.text
            execution = client.post(f"/api/v1/configs/{config.json()['id']}/run")
            assert execution.status_code == 201, execution.text
        execution_id = execution.json()["id"]

        # stderr on a terminal: the progress line proves the wait is connected before the stop.
        master, slave = os.openpty()
        waiter = subprocess.Popen(
            [FACTFLOW, "--server", base_url, "--timeout", "90s", "-o", "table", "execution", "wait", execution_id],
            stdout=subprocess.PIPE,
            stderr=slave,
            env={**os.environ, "NO_COLOR": "1"},
        )
        os.close(slave)
        try:
            read_until(master, b"in flight 1", timeout=30)
            # Keep reading the terminal so the redraws never fill its buffer and block the CLI.
            threading.Thread(target=drain, args=(master,), name="drain-terminal", daemon=True).start()
            first.send_signal(signal.SIGINT)
            assert first.wait(timeout=60) == 0, first.output()
            # Recovery off: the execution stays `interrupted` when the server is back.
            second = start_server(port, tmp_path, FACTFLOW_RECOVERY_ENABLED="false")
            try:
                stdout, _ = waiter.communicate(timeout=60)
            finally:
                second.send_signal(signal.SIGINT)
                second.wait(timeout=60)
        finally:
            os.close(master)
            if waiter.poll() is None:
                waiter.kill()
                waiter.communicate(timeout=30)
    finally:
        first.kill()
    assert waiter.returncode == 4, stdout
    assert b"STATUS            interrupted" in stdout
