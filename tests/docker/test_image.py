"""The server image, proven without a Docker engine.

The Dockerfile's build steps are `RUN sh docker/build-rootfs.sh STEP /src` lines. This test reads
them from the Dockerfile and runs the same commands, with the same script, lock file and uv flags,
into a scratch root (`ROOTFS`), then starts the server from that tree the way the image's
ENTRYPOINT/CMD and ENV do, as the image's non-root uid, and runs the image's HEALTHCHECK command
against it. What this does not prove: the base image (`python:3.11-slim`), `COPY` instructions,
`useradd` and the Docker layer mechanics themselves — the host's Python 3.11 stands in for the
image's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
HOST_PYTHON = Path("/usr/bin/python3.11")

pytestmark = pytest.mark.slow


def _instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.upper().startswith(f"{name} ")]


def _env() -> dict[str, str]:
    """The runtime stage's ENV, as a mapping (one `ENV` instruction of `KEY=VALUE` pairs)."""
    (env_line,) = _instructions("ENV")
    return dict(pair.split("=", 1) for pair in shlex.split(env_line))


def _image_uid() -> int:
    (user,) = _instructions("USER")
    return int(user.split(":")[0])


def test_dockerfile_is_multi_stage_non_root_with_a_health_check() -> None:
    assert [line.split()[0] for line in _instructions("FROM")] == ["python:3.11-slim", "python:3.11-slim"]
    assert _image_uid() != 0
    (healthcheck,) = _instructions("HEALTHCHECK")
    assert 'CMD ["python", "/app/healthcheck.py"]' in healthcheck
    steps = [line for line in _instructions("RUN") if "build-rootfs.sh" in line]
    assert steps == ["sh docker/build-rootfs.sh venv /src", "sh docker/build-rootfs.sh app /src"]
    assert "COPY --from=build /app /app" in DOCKERFILE


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def rootfs() -> Iterator[Path]:
    """The image's /app tree, built by the Dockerfile's own RUN lines under a scratch root."""
    if not HOST_PYTHON.exists():
        pytest.fail(f"{HOST_PYTHON} (a Python 3.11 a non-root user can run) is needed to stand in for the image's")
    uv = shutil.which("uv")
    assert uv, "uv builds the image's environment"
    # Not under pytest's tmp_path: that is private to root, and the server runs as the image's uid.
    root = Path(tempfile.mkdtemp(prefix="factflow-rootfs-"))
    root.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env.update(ROOTFS=str(root), UV_PYTHON=str(HOST_PYTHON), PATH=f"{Path(uv).parent}{os.pathsep}{env['PATH']}")
    try:
        for line in (line for line in _instructions("RUN") if "build-rootfs.sh" in line):
            command = shlex.split(line.replace("/src", str(REPO)))
            result = subprocess.run(
                command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
            )
            assert result.returncode == 0, f"{line}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_environment_has_no_dev_tools_and_no_editable_installs(rootfs: Path) -> None:
    venv = rootfs / "app" / ".venv"
    assert (venv / "bin" / "factflow-server").exists()
    assert (venv / "bin" / "factflow").exists()
    assert not (venv / "bin" / "pytest").exists()
    assert not (venv / "bin" / "mkdocs").exists()
    site = next((venv / "lib").glob("python3.11/site-packages"))
    assert (site / "factflow_server").is_dir(), "workspace packages are installed as wheels, not linked"
    assert not list(site.glob("*factflow*.pth")), "no editable installs pointing back into the source tree"
    assert (rootfs / "app" / "backend" / "config" / "pipelines" / "demo.yaml").exists()


def test_the_server_starts_as_the_image_user_and_passes_the_health_check(rootfs: Path) -> None:
    uid = _image_uid()
    image_env = _env()
    home = rootfs / "home" / "factflow"
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, uid, uid)
    app = rootfs / "app"
    port = _free_port()
    env = {
        "PATH": f"{app / '.venv' / 'bin'}{os.pathsep}/usr/bin:/bin",
        "HOME": str(home),
        **{key: value for key, value in image_env.items() if key != "PATH"},
        # The image's paths, moved under the scratch root; the backends the compose stack would
        # give are replaced by local ones (SQLite, memory queue, files) in the data directory.
        "FACTFLOW_PIPELINES_DIR": image_env["FACTFLOW_PIPELINES_DIR"].replace("/app", str(app), 1),
        "FACTFLOW_DATA_DIR": str(home / "data"),
        "FACTFLOW_PORT": str(port),
        "FACTFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'data' / 'factflow.db'}",
        "FACTFLOW_QUEUE_URL": "memory://",
        "FACTFLOW_STORAGE_URI": f"file://{home / 'data' / 'storage'}",
        "FACTFLOW_LOG_FORMAT": "json",
    }
    (entrypoint,) = _instructions("ENTRYPOINT")
    (cmd,) = _instructions("CMD")
    argv = [*eval_json_list(entrypoint), *eval_json_list(cmd)]
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    server = subprocess.Popen(
        [*as_user, *argv], cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        health = [*as_user, str(app / ".venv" / "bin" / "python"), str(app / "healthcheck.py")]
        # The HEALTHCHECK's own retry policy: a probe every interval until it passes or the server exits.
        deadline_probes = 120
        for _ in range(deadline_probes):
            probe = subprocess.run(health, env=env, capture_output=True, text=True, timeout=10, check=False)
            if probe.returncode == 0:
                break
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                server.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        else:
            pytest.fail("the server never passed the image's health check")
        ps = subprocess.run(["ps", "-o", "uid=", "-p", str(server.pid)], capture_output=True, text=True, check=True)
        assert int(ps.stdout.strip()) == uid
        assert (home / "data" / "factflow.db").stat().st_uid == uid
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output[-3000:]


def eval_json_list(text: str) -> list[str]:
    import json

    value = json.loads(text)
    assert isinstance(value, list) and all(isinstance(item, str) for item in value)
    return value
