"""An adapter package built outside the repository is discovered by an installed `factflow`.

A throwaway distribution with a `factflow.adapters` entry point is installed into a fresh venv
(no system site-packages) next to the CLI and the engine from their local paths; the venv's own
`factflow config validate` must then find the type and apply its config model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[4]
WORKSPACE_PACKAGES = ("foundation", "protocols", "infra", "lineage", "engine", "cli")

PYPROJECT = """\
[project]
name = "factflow-greeter"
version = "0.3.0"
requires-python = ">=3.11"
dependencies = ["factflow-protocols", "pydantic>=2.9"]

[project.entry-points."factflow.adapters"]
greeter = "factflow_greeter:GreeterAdapter"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/factflow_greeter"]
"""

MODULE = '''\
"""A third-party adapter package."""

from pydantic import BaseModel, ConfigDict, Field

from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext


class GreeterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    greeting: str
    times: int = Field(default=1, ge=1, le=3)


class GreeterAdapter(PipelineAdapter):
    """Greets the payload's `name`."""

    adapter_type = "greeter"
    config_model = GreeterConfig

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return AdapterResult(message={**context.message, "greeting": self.config.greeting})
'''


def pipeline(adapter_entry: str) -> str:
    return (
        textwrap.dedent(
            """\
        version: "1.0"
        routes:
          greet:
            inbound: {queue: greet.in}
            adapters:
              - %s
        init_message: {route: greet, payload: {name: Ada}}
        """
        )
        % adapter_entry
    )


def uv_command() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    pytest.fail("uv is required to build the throwaway venv (it is the project's package manager)")


@pytest.fixture(scope="module")
def venv_factflow(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("external-adapter")
    package = root / "factflow-greeter"
    (package / "src" / "factflow_greeter").mkdir(parents=True)
    (package / "pyproject.toml").write_text(PYPROJECT)
    (package / "src" / "factflow_greeter" / "__init__.py").write_text(MODULE)

    env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    env.update({"UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"})
    venv = root / "venv"
    uv = uv_command()
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, env=env, timeout=60)
    python = venv / "bin" / "python"
    local = [str(REPO / "backend" / "packages" / f"factflow-{name}") for name in WORKSPACE_PACKAGES]
    subprocess.run(
        [*uv, "pip", "install", "--quiet", "--python", str(python), *local, str(package)],
        check=True,
        env=env,
        timeout=120,
    )
    return venv / "bin" / "factflow", env


def validate(factflow: tuple[Path, dict[str, str]], directory: Path, text: str) -> tuple[int, dict[str, Any]]:
    executable, env = factflow
    path = directory / "pipeline.yaml"
    path.write_text(text)
    result = subprocess.run(
        [str(executable), "config", "validate", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=directory,
        timeout=60,
        check=False,
    )
    document = json.loads(result.stdout)
    assert isinstance(document, dict), result.stderr
    return result.returncode, document


def issues(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(i["code"], i["path"], i["suggestion"]) for i in document["files"][0]["issues"]]


def test_the_venv_is_isolated_from_the_workspace(venv_factflow: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    executable, env = venv_factflow
    python = executable.with_name("python")
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import sys; print([p for p in sys.path if p.endswith('site-packages')])",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "include-system-site-packages = false" in (python.parent.parent / "pyvenv.cfg").read_text()
    assert probe.stdout.strip() == repr([str(python.parent.parent / "lib" / "python3.11" / "site-packages")])
    assert "/.venv/" not in probe.stdout, "the workspace venv must not be visible"
    # The built-in adapters are not installed there, so their types are unknown.
    code, document = validate(venv_factflow, tmp_path, pipeline("{type: passthrough}"))
    assert code == 1
    assert [issue[0] for issue in issues(document)] == ["E103"]


def test_external_adapter_is_discovered(venv_factflow: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    code, document = validate(venv_factflow, tmp_path, pipeline("{type: greeter, config: {greeting: hello, times: 2}}"))
    assert code == 0, document
    assert document["is_valid"] is True
    assert document["error_count"] == 0


def test_its_config_model_drives_e301_and_e302(venv_factflow: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    code, document = validate(venv_factflow, tmp_path, pipeline("{type: greeter, config: {greting: hello}}"))
    assert code == 1
    assert issues(document) == [
        ("E302", "routes.greet.adapters[0].config.greeting", "'greeter' requires 'greeting'."),
        (
            "E301",
            "routes.greet.adapters[0].config.greting",
            "'greeter' has no option 'greting'. Did you mean 'greeting'?",
        ),
    ]


def test_its_constraints_drive_e304(venv_factflow: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    code, document = validate(venv_factflow, tmp_path, pipeline("{type: greeter, config: {greeting: hi, times: 9}}"))
    assert code == 1
    assert issues(document) == [("E304", "routes.greet.adapters[0].config.times", "'times' must be between 1 and 3.")]
