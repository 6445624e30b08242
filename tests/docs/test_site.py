"""The documentation site builds strictly, every page is in it, and every shell block has a runner."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SHELL_FENCE = re.compile(r"^```(bash|sh|shell|console)\n", re.MULTILINE)

# Each page with ```bash blocks, and the test module that runs those blocks as written.
RUNNERS = {
    "getting-started.md": "tests/e2e/test_getting_started.py",
    "guides/replay.md": "tests/e2e/test_getting_started.py",
    "guides/recovery.md": "tests/e2e/test_getting_started.py",
    "guides/running-pipelines.md": "tests/e2e/test_getting_started.py",
    "guides/monitoring.md": "tests/e2e/test_getting_started.py",
    "guides/writing-adapters.md": "tests/e2e/test_getting_started.py",
    "guides/embeddings.md": "tests/e2e/test_embeddings_guide.py",
    "reference/cli.md": "backend/packages/factflow-cli/tests/commands/test_reference_doc.py",
}
# Shell blocks no test runs, and why. Keep this list short and honest.
NOT_RUN = {
    "guides/deployment.md": "`make up` needs a Docker engine; the image is proven by tests/docker instead",
    "guides/container-image.md": "`docker build`/`docker run` need a Docker engine; tests/docker proves the steps",
    "guides/scaling.md": "workers on several hosts, Compose and KEDA need Docker or a cluster; the worker list and the"
    " pool and membership views are run by the server and CLI test suites",
    "performance.md": "`make bench` takes minutes; tests/bench runs a smoke run of the same benchmark",
    "reference/pipeline-yaml.md": "commands are checked for equality with the Makefile and CLI (test_docs.py)",
}


def _nav_pages(nav: object) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_nav_pages(item) for item in nav)) if nav else set()
    if isinstance(nav, dict):
        return set().union(*(_nav_pages(value) for value in nav.values()))
    return set()


def test_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "http-api-endpoints" / "index.html").exists()
    assert (tmp_path / "site" / "reference" / "openapi.json").exists()
    # Offline: the theme must not pull fonts from a CDN.
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in index


def test_every_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert pages == _nav_pages(config["nav"])


def test_the_documented_sections_exist() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    sections = {next(iter(item)) for item in config["nav"] if isinstance(item, dict)}
    assert {"Getting started", "Concepts", "Guides", "Reference"} <= sections


def test_every_shell_block_is_run_by_a_test() -> None:
    with_shell = {
        str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md") if SHELL_FENCE.search(path.read_text("utf-8"))
    }
    unclaimed = with_shell - set(RUNNERS) - set(NOT_RUN)
    assert not unclaimed, f"shell blocks with no test running them: {sorted(unclaimed)}"
    for page, runner in RUNNERS.items():
        assert (DOCS / page).exists(), page
        # The runner really names the page it claims.
        assert page.rsplit("/", 1)[-1] in (REPO / runner).read_text(encoding="utf-8"), (page, runner)
