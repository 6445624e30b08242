"""`factflow adapter test PATH`: the scaffold passes; broken adapters fail the check that names their fault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

FACTFLOW = str(Path(sys.executable).with_name("factflow"))

BROKEN = '''\
"""Adapters that break the contract on purpose."""

from __future__ import annotations

import asyncio
import datetime

from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext


class SwallowAdapter(PipelineAdapter):
    adapter_type = "swallow"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            pass
        return AdapterResult(message=context.message)


class ClockAdapter(PipelineAdapter):
    adapter_type = "clock"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return AdapterResult(message={"at": datetime.datetime.now()})
'''


def install(site: Path, root: Path) -> None:
    """Make `root`'s entry points visible as an installed distribution would (dist-info on sys.path)."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    entry_points = project["entry-points"]["factflow.adapters"]
    (dist_info / "entry_points.txt").write_text(
        "[factflow.adapters]\n" + "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    )


def adapter_test(*args: str, pythonpath: list[Path], cwd: Path) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath)), "NO_COLOR": "1"}
    result = subprocess.run(
        [FACTFLOW, "adapter", "test", *args, "-o", "json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    body = json.loads(result.stdout) if result.stdout.strip() else json.loads(result.stderr)
    return result.returncode, body


def outcomes(body: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(check["adapter"], check["check"]): check["outcome"] for check in body["checks"]}


def test_the_scaffold_passes_every_check_and_its_tests(tmp_path: Path) -> None:
    subprocess.run([FACTFLOW, "adapter", "new", "shouter", "--dir", str(tmp_path)], check=True, capture_output=True)
    root = tmp_path / "factflow-shouter"
    install(tmp_path / "site", root)
    code, body = adapter_test(str(root), pythonpath=[tmp_path / "site", root / "src"], cwd=tmp_path)
    assert code == 0, body
    assert body["passed"] is True
    assert outcomes(body) == {
        ("shouter", "discoverable"): "pass",
        ("shouter", "config model"): "pass",
        ("shouter", "cancel-safe"): "pass",
        ("shouter", "JSON-safe outputs"): "pass",
        ("*", "tests"): "pass",
    }


def test_an_uninstalled_package_is_not_discoverable(tmp_path: Path) -> None:
    subprocess.run([FACTFLOW, "adapter", "new", "shouter", "--dir", str(tmp_path)], check=True, capture_output=True)
    code, body = adapter_test(str(tmp_path / "factflow-shouter"), "--no-tests", pythonpath=[], cwd=tmp_path)
    assert code == 1
    assert outcomes(body)[("shouter", "discoverable")] == "fail"
    assert ("*", "tests") not in outcomes(body)


def test_swallowed_cancellation_and_non_json_output_fail(tmp_path: Path) -> None:
    root = tmp_path / "factflow-broken"
    (root / "src" / "factflow_broken").mkdir(parents=True)
    (root / "src" / "factflow_broken" / "__init__.py").write_text(BROKEN)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "factflow-broken"\nversion = "0.0.1"\n\n'
        '[project.entry-points."factflow.adapters"]\n'
        'swallow = "factflow_broken:SwallowAdapter"\nclock = "factflow_broken:ClockAdapter"\n'
    )
    install(tmp_path / "site", root)
    code, body = adapter_test(str(root), "--no-tests", pythonpath=[tmp_path / "site", root / "src"], cwd=tmp_path)
    assert code == 1
    result = outcomes(body)
    assert result[("swallow", "cancel-safe")] == "fail"
    assert result[("clock", "JSON-safe outputs")] == "fail"
    assert result[("clock", "cancel-safe")] == "pass"
    details = {(c["adapter"], c["check"]): c["detail"] for c in body["checks"]}
    assert "swallowed CancelledError" in details[("swallow", "cancel-safe")]
    assert "message.at holds a datetime" in details[("clock", "JSON-safe outputs")]


def test_a_path_without_adapters_is_a_usage_error(tmp_path: Path) -> None:
    code, body = adapter_test(str(tmp_path), pythonpath=[], cwd=tmp_path)
    assert code == 2
    assert "pyproject.toml" in json.dumps(body)
