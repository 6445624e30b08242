"""The CLI and the adapter packages install from their wheels without a storage driver.

The wheels are built the way `make release-check` builds them, then each package is installed
alone into a fresh virtual environment: sibling factflow packages from the built wheels
(`--find-links`), third-party ones through uv's configured index and cache, pinned to uv.lock.
The CLI talks HTTP and the adapters run inside someone else's server, so neither may drag in
redis, minio, the PostgreSQL and SQLite drivers, SQLAlchemy or alembic, nor a server-side
factflow package (docs/reference/cli.md, docs/guides/writing-adapters.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted(path.parent.name for path in REPO.glob("workflows/*/pyproject.toml"))
DRIVERS = {"redis", "hiredis", "minio", "asyncpg", "aiosqlite", "sqlalchemy", "alembic"}
SERVER_SIDE = {"factflow-infra", "factflow-lineage", "factflow-execution", "factflow-replay", "factflow-server"}

pytestmark = pytest.mark.slow


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _uv() -> str:
    uv = shutil.which("uv")
    assert uv, "uv builds the wheels and the virtual environments"
    return uv


def _env() -> dict[str, str]:
    # Not the workspace's environment: each install goes into its own venv.
    env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """`(dist, constraints)`: every workspace wheel, and uv.lock's third-party pins."""
    work = tmp_path_factory.mktemp("wheels")
    dist = work / "dist"
    constraints = work / "constraints.txt"
    uv = _uv()
    subprocess.run(
        [uv, "build", "--all-packages", "--wheel", "--quiet", "--out-dir", str(dist)],
        cwd=REPO,
        env=_env(),
        check=True,
        timeout=600,
    )
    subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--all-packages", "--no-emit-workspace", "--no-hashes", "--quiet"]
        + ["-o", str(constraints)],
        cwd=REPO,
        env=_env(),
        check=True,
        timeout=120,
    )
    yield dist, constraints


def _install_alone(wheelhouse: tuple[Path, Path], dist_name: str, venv: Path) -> Path:
    """A fresh venv holding `dist_name` (from its wheel) and its dependencies; returns its python."""
    dist, constraints = wheelhouse
    (wheel,) = dist.glob(f"{dist_name.replace('-', '_')}-*.whl")
    uv = _uv()
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env=_env(), check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "--find-links", str(dist)]
        + ["--constraint", str(constraints), str(wheel)],
        env=_env(),
        check=True,
        timeout=600,
    )
    return python


def _distributions(python: Path) -> set[str]:
    probe = "import importlib.metadata as md, json; print(json.dumps([d.metadata['Name'] for d in md.distributions()]))"
    listed = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout
    return {_canonical(name) for name in json.loads(listed)}


def test_the_workflow_packages_are_found() -> None:
    assert {"factflow-builtins", "factflow-markdown", "factflow-webscraper"} <= set(WORKFLOWS)


def test_the_cli_installs_alone_without_drivers(wheelhouse: tuple[Path, Path], tmp_path: Path) -> None:
    python = _install_alone(wheelhouse, "factflow-cli", tmp_path / "venv")
    installed = _distributions(python)
    assert {"factflow-cli", "factflow-engine", "factflow-protocols", "factflow-foundation", "httpx"} <= installed
    assert installed & DRIVERS == set()
    assert installed & SERVER_SIDE == set()

    factflow = tmp_path / "venv" / "bin" / "factflow"
    shown = subprocess.run([str(factflow), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "Usage: factflow" in shown.stdout
    assert "config" in shown.stdout and "execution" in shown.stdout


@pytest.mark.parametrize("dist_name", WORKFLOWS)
def test_an_adapter_package_installs_alone_without_drivers(
    wheelhouse: tuple[Path, Path], tmp_path: Path, dist_name: str
) -> None:
    python = _install_alone(wheelhouse, dist_name, tmp_path / "venv")
    installed = _distributions(python)
    assert dist_name in installed and "factflow-protocols" in installed
    assert installed & DRIVERS == set()
    assert installed & SERVER_SIDE == set()

    # Every adapter entry point loads, and is an adapter.
    probe = (
        "import importlib.metadata as md, sys; from factflow_protocols import PipelineAdapter; "
        "eps = [ep for ep in md.distribution(sys.argv[1]).entry_points if ep.group == 'factflow.adapters']; "
        "assert eps and all(issubclass(ep.load(), PipelineAdapter) for ep in eps); "
        "print(sorted(ep.name for ep in eps))"
    )
    loaded = subprocess.run([str(python), "-c", probe, dist_name], capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    project = tomllib.loads((REPO / "workflows" / dist_name / "pyproject.toml").read_text(encoding="utf-8"))
    assert loaded.stdout.strip() == str(sorted(project["project"]["entry-points"]["factflow.adapters"]))


def test_the_adapter_author_helper_runs_without_the_testing_extra(
    wheelhouse: tuple[Path, Path], tmp_path: Path
) -> None:
    # `run_adapter` (what `factflow adapter test` and scaffolded tests use) needs the engine only.
    python = _install_alone(wheelhouse, "factflow-builtins", tmp_path / "venv")
    probe = (
        "import asyncio; from factflow_engine.testing import run_adapter; "
        "result = asyncio.run(run_adapter('passthrough', {'n': 1})); print(result.message)"
    )
    ran = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "{'n': 1}"
    assert _distributions(python) & (DRIVERS | SERVER_SIDE) == set()


def test_release_check_forbids_the_same_distributions() -> None:
    script = (REPO / "scripts" / "release-check.sh").read_text(encoding="utf-8")
    heavy = re.search(r'^heavy="([^"]+)"', script, flags=re.MULTILINE)
    light = re.search(r'^light="([^"]+)"', script, flags=re.MULTILINE)
    assert heavy and light
    assert set(heavy.group(1).split()) == DRIVERS | SERVER_SIDE
    # The CLI, the engine and below, and every package under workflows/.
    core = {"factflow-foundation", "factflow-protocols", "factflow-engine", "factflow-cli"}
    assert core <= set(light.group(1).split())
    assert "$(cd workflows && echo *)" in light.group(1)
