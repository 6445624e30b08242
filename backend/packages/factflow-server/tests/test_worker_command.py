"""`factflow-server worker` and `serve --no-local-worker` as subprocesses: what they refuse, and how."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "factflow_server", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=cwd,
        timeout=60,
    )


_PRODUCTION = {
    "FACTFLOW_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/none",
    "FACTFLOW_STORAGE_URI": "file:///tmp/factflow-never-used",
}


@pytest.mark.parametrize("queue_url", ["memory://", ""])
def test_a_worker_refuses_a_queue_other_processes_cannot_share(tmp_path: Path, queue_url: str) -> None:
    env = {**_PRODUCTION, "FACTFLOW_QUEUE_URL": queue_url} if queue_url else dict(_PRODUCTION)
    result = _run(["worker"], env, tmp_path)
    assert result.returncode == 2
    assert "FACTFLOW_QUEUE_URL=redis://" in result.stderr


def test_a_worker_names_missing_backends(tmp_path: Path) -> None:
    result = _run(["worker"], {"FACTFLOW_QUEUE_URL": "redis://127.0.0.1:1/0"}, tmp_path)
    assert result.returncode == 2
    assert "FACTFLOW_DATABASE_URL" in result.stderr
    assert "FACTFLOW_STORAGE_URI" in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["worker", "--pool", "bad pool"], "invalid pool name"),
        (["worker", "--id", "no spaces allowed"], "Invalid worker id"),
    ],
)
def test_a_worker_refuses_bad_pools_and_ids(tmp_path: Path, args: list[str], needle: str) -> None:
    result = _run(args, {**_PRODUCTION, "FACTFLOW_QUEUE_URL": "redis://127.0.0.1:1/0"}, tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr


def test_embedded_mode_refuses_to_run_without_its_local_worker(tmp_path: Path) -> None:
    result = _run(["serve", "--embedded", "--no-local-worker"], {}, tmp_path)
    assert result.returncode == 2
    assert "--no-local-worker" in result.stderr


def test_worker_help_names_its_options(tmp_path: Path) -> None:
    result = _run(["worker", "--help"], {"COLUMNS": "200"}, tmp_path)
    assert result.returncode == 0
    for option in ("--pool", "--concurrency-scale", "--id", "--metrics-port"):
        assert option in result.stdout
