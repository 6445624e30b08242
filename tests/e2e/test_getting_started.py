"""Runs every command of docs/getting-started.md, as written, against a live server."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from factflow_infra.testing import unique_bucket_name
from factflow_infra.testing._s3 import S3TestServer
from factflow_infra.testing.plugin import postgres_database_url, redis_db, redis_url, s3_server

__all__ = ("postgres_database_url", "redis_db", "redis_url", "s3_server")

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "getting-started.md"
GUIDE_FILES = ("gs-site", "gs-pipeline.yaml", "gs-markdown.yaml")
# Guides that start their own embedded server and clean up their own files.
SELF_CONTAINED_GUIDES = (
    "guides/replay.md",
    "guides/recovery.md",
    "guides/running-pipelines.md",
    "guides/monitoring.md",
    "guides/writing-adapters.md",
)

pytestmark = pytest.mark.slow


def _bash_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, flags=re.DOTALL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As http.server does: a port left in TIME_WAIT by an earlier run is free to listen on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def clean_repo_root() -> Iterator[None]:
    """The guide writes its files into the repository root; remove them afterwards."""
    leftovers = [name for name in GUIDE_FILES if (REPO / name).exists()]
    if leftovers:
        pytest.fail(f"files from an earlier run are in the way: {leftovers}")
    try:
        yield
    finally:
        for name in GUIDE_FILES:
            path = REPO / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


@pytest.fixture(params=["embedded", pytest.param("production", marks=[pytest.mark.redis, pytest.mark.postgres])])
def backend_environment(request: pytest.FixtureRequest) -> dict[str, str]:
    """No backend variables (embedded defaults), or PostgreSQL + Redis Streams + S3 (moto).

    The guide starts the server with `--embedded`; explicitly set backend URLs still win, so the
    same commands run unchanged against the production backends.
    """
    if request.param == "embedded":
        return {}
    s3: S3TestServer = request.getfixturevalue("s3_server")
    bucket = unique_bucket_name()
    s3.provider(bucket)  # validates the endpoint settings; the server creates the bucket at start-up
    return {
        "FACTFLOW_DATABASE_URL": request.getfixturevalue("postgres_database_url"),
        "FACTFLOW_QUEUE_URL": request.getfixturevalue("redis_url"),
        **s3.environment(bucket=bucket),
    }


def test_every_command_in_the_guide_runs_as_written(
    clean_repo_root: None, tmp_path: Path, backend_environment: dict[str, str]
) -> None:
    if shutil.which("jq") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("jq is required by docs/getting-started.md and is missing")
        pytest.skip("jq is not installed")
    if not _port_is_free(8081):
        pytest.fail("port 8081, which the guide's local website uses, is taken")
    blocks = _bash_blocks(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 8, "the guide lost its command blocks"
    env = _guide_environment(tmp_path)
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed by the guide's first command"
    env.update(PATH=f"{Path(uv).parent}{os.pathsep}{env.get('PATH', '')}", UV_PYTHON_DOWNLOADS="never")
    env.update(backend_environment)
    stdout = _run_guide(blocks, env)
    # What the guide tells the reader they will see.
    assert "executions/" in stdout and "/web_scraper/" in stdout, stdout[-6000:]
    assert stdout.count("completed") >= 4, stdout[-6000:]


def _run_guide(blocks: list[str], env: dict[str, str]) -> str:
    """Run the command blocks in order as one `set -euo pipefail` script; returns its stdout."""
    script = "set -euo pipefail\n" + "\n".join(blocks) + "\necho GUIDE-COMPLETED\n"
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    output = f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
    assert result.returncode == 0, output
    assert result.stdout.rstrip().endswith("GUIDE-COMPLETED"), output
    return result.stdout


def _guide_environment(tmp_path: Path) -> dict[str, str]:
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("FACTFLOW_")}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        FACTFLOW_DATA_DIR=str(tmp_path / "data"),
        FACTFLOW_PORT=str(port),
        FACTFLOW_SERVER_URL=f"http://127.0.0.1:{port}",
        FACTFLOW_SHUTDOWN_GRACE_SECONDS="5",
        FACTFLOW_LOG_LEVEL="WARNING",
        NO_COLOR="1",
    )
    return env


@pytest.mark.parametrize("guide", SELF_CONTAINED_GUIDES)
def test_guides_run_as_written(guide: str, tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("jq is required by the guides and is missing")
        pytest.skip("jq is not installed")
    blocks = _bash_blocks((REPO / "docs" / guide).read_text(encoding="utf-8"))
    assert blocks, f"{guide} has no command blocks"
    _run_guide(blocks, _guide_environment(tmp_path))
