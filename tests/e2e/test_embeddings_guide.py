"""Runs docs/guides/embeddings.md as written: the site-to-embeddings pipeline against a local website."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
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
GUIDE = REPO / "docs" / "guides" / "embeddings.md"
GUIDE_FILES = ("emb-site", "emb-vectors.json", "emb-chain.json")
SITE_PORT = 8082

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
    """No backend variables (embedded defaults), or PostgreSQL + Redis Streams + S3 (moto)."""
    if request.param == "embedded":
        return {}
    s3: S3TestServer = request.getfixturevalue("s3_server")
    bucket = unique_bucket_name()
    s3.provider(bucket)
    return {
        "FACTFLOW_DATABASE_URL": request.getfixturevalue("postgres_database_url"),
        "FACTFLOW_QUEUE_URL": request.getfixturevalue("redis_url"),
        **s3.environment(bucket=bucket),
    }


def _run_script(script: str, env: dict[str, str], tmp_path: Path) -> tuple[str, str, int]:
    """Run the guide in its own process group; whatever it left running (server, site) is ended after.

    Output goes to files, not pipes, so a failing step ends the run at once instead of leaving
    the background server holding the pipe open.
    """
    out_path, err_path = tmp_path / "guide.out", tmp_path / "guide.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=280)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    return out_path.read_text(), err_path.read_text(), returncode


@pytest.mark.timeout(300)
def test_the_embeddings_guide_runs_as_written(
    clean_repo_root: None, tmp_path: Path, backend_environment: dict[str, str]
) -> None:
    if shutil.which("jq") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("jq is required by docs/guides/embeddings.md and is missing")
        pytest.skip("jq is not installed")
    if not _port_is_free(SITE_PORT):
        pytest.fail(f"port {SITE_PORT}, which the guide's local website uses, is taken")
    blocks = _bash_blocks(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 6, "the guide lost its command blocks"
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
        **backend_environment,
    )
    script = "set -euo pipefail\n" + "\n".join(blocks) + "\necho GUIDE-COMPLETED\n"
    stdout, stderr, returncode = _run_script(script, env, tmp_path)
    output = f"--- stdout\n{stdout[-6000:]}\n--- stderr\n{stderr[-6000:]}"
    assert returncode == 0, output
    assert stdout.rstrip().endswith("GUIDE-COMPLETED"), output
    # The vector led back to a page of the site, and the vectors name every page.
    assert re.search(r"^http://127\.0\.0\.1:8082/\w+\.html$", stdout, flags=re.MULTILINE), output
    for page in ("queues", "storage", "cakes"):
        assert f"http://127.0.0.1:8082/{page}.html" in stdout, output
    assert (tmp_path / "data" / "vectors.sqlite").is_file()
