"""The `factflow-server` entry point as a subprocess: usage, start-up failures, signals, exit codes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from factflow_foundation import FactflowSettings
from factflow_server.testing import ServerProcess


def _embedded_env(tmp_path: Path) -> dict[str, str]:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir(exist_ok=True)
    return {
        "FACTFLOW_DATA_DIR": str(tmp_path / "data"),
        "FACTFLOW_PIPELINES_DIR": str(pipelines),
        "FACTFLOW_SHUTDOWN_GRACE_SECONDS": "5",
        "FACTFLOW_LOG_FORMAT": "json",
    }


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "factflow_server", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=cwd,
        timeout=60,
    )


def test_bare_command_prints_help_and_exits_2(tmp_path: Path) -> None:
    result = _run([], {}, tmp_path)
    assert result.returncode == 2
    assert "serve" in result.stdout


def test_serve_help_lists_every_setting_with_its_variable(tmp_path: Path) -> None:
    result = _run(["serve", "--help"], {"COLUMNS": "200"}, tmp_path)
    assert result.returncode == 0
    for name in FactflowSettings.model_fields:
        assert f"FACTFLOW_{name.upper()}  [default: " in result.stdout, name
    assert "FACTFLOW_LOG_FORMAT  [default: auto]" in result.stdout
    assert "`json`, `console`, or `auto`" in result.stdout


def test_production_mode_names_missing_settings(tmp_path: Path) -> None:
    result = _run(["serve"], {"FACTFLOW_QUEUE_URL": "memory://"}, tmp_path)
    assert result.returncode == 1
    assert "FACTFLOW_DATABASE_URL" in result.stderr
    assert "FACTFLOW_STORAGE_URI" in result.stderr
    assert "FACTFLOW_QUEUE_URL" not in result.stderr


def test_unknown_log_level_is_a_usage_error(tmp_path: Path) -> None:
    assert _run(["serve", "--embedded", "--log-level", "loud"], {}, tmp_path).returncode == 2


def test_busy_port_fails_start_up(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run(["serve", "--embedded", "--port", str(port)], _embedded_env(tmp_path), tmp_path)
    assert result.returncode == 1
    assert "cannot listen" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_embedded_start_announces_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    process = ServerProcess.start(["serve", "--embedded", "--port", "0"], env=_embedded_env(tmp_path), cwd=tmp_path)
    try:
        base_url = process.wait_until_listening()
        announcement = next(line for line in process.lines if "listening on" in line)
        assert announcement.startswith("factflow-server ")
        assert announcement.endswith(" (embedded)")
        assert base_url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{base_url}/metrics", timeout=10).status_code == 200
        process.send_signal(sig)
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    output = process.output()
    assert "sqlite+aiosqlite:///" in output  # the effective settings are logged
    assert (tmp_path / "data").is_dir()
