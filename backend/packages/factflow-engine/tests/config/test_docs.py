"""docs/reference/pipeline-yaml.md stays true: its pipelines validate, its commands and codes exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from factflow_engine.config import PipelineConfigLoader
from factflow_engine.config.codes import CODES
from factflow_engine.registry import ValidatingAdapterRegistry

REPO_ROOT = Path(__file__).resolve().parents[5]
REFERENCE = REPO_ROOT / "docs" / "reference" / "pipeline-yaml.md"
TEXT = REFERENCE.read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TEXT, re.S)


PIPELINES = [block for block in _blocks("yaml") if block.startswith("version:")]


def test_reference_holds_full_pipelines() -> None:
    assert len(PIPELINES) >= 3


# The reference's pipelines name adapters of these workflow packages; the workspace installs them all.
WORKFLOW_PACKAGES = ("factflow_builtins", "factflow_webscraper", "factflow_markdown", "factflow_embeddings")


@pytest.fixture(scope="module")
def registry_loader() -> PipelineConfigLoader:
    """A loader over the real adapter registry: what `factflow config validate` and the server use."""
    for package in WORKFLOW_PACKAGES:
        pytest.importorskip(package, reason="the documented pipelines need the workflow packages installed")
    return PipelineConfigLoader(ValidatingAdapterRegistry().auto_discover_and_register())


@pytest.mark.parametrize("block", PIPELINES)
def test_documented_pipelines_are_valid_without_warnings(registry_loader: PipelineConfigLoader, block: str) -> None:
    report = registry_loader.validate(block)
    assert report.issues == (), report.to_dict()


def test_documented_codes_exist() -> None:
    mentioned = set(re.findall(r"\b[EW]\d{3}\b", TEXT))
    assert mentioned <= set(CODES)
    assert {"E001", "E106", "E202", "E504", "E512", "W507"} <= mentioned


def test_make_docs_command_is_the_documented_one() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    command = "python -m factflow_engine.config.codes --write docs/reference/error-codes.md"
    assert command in makefile
    assert f"uv run {command}" in _blocks("bash")[-1]


def test_python_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("factflow_builtins", reason="the example validates the demo with the built-in adapters")
    (snippet,) = _blocks("python")
    monkeypatch.chdir(REPO_ROOT)
    namespace: dict[str, object] = {}
    exec(compile(snippet, str(REFERENCE), "exec"), namespace)
    config = namespace["config"]
    assert getattr(config, "name", None) == "demo"
