"""Every package carries the one workspace version, the changelog has an entry for it, and
`make release-check` is wired to the script that builds and installs each wheel alone."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MEMBERS = sorted([*REPO.glob("backend/packages/*/pyproject.toml"), *REPO.glob("workflows/*/pyproject.toml")])


def _project(path: Path) -> dict[str, object]:
    project: dict[str, object] = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    return project


def test_every_member_has_the_workspace_version() -> None:
    version = _project(REPO / "pyproject.toml")["version"]
    assert len(MEMBERS) >= 12
    assert {str(path.parent.name): _project(path)["version"] for path in MEMBERS} == {
        str(path.parent.name): version for path in MEMBERS
    }
    # The installed distributions report it too (what `factflow --version` and the API show).
    assert {importlib.metadata.version(str(_project(path)["name"])) for path in MEMBERS} == {version}


def test_the_changelog_has_an_entry_for_the_version() -> None:
    version = _project(REPO / "pyproject.toml")["version"]
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert version in headings


def test_release_check_target_runs_the_script() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^release-check: .*## ", makefile, flags=re.MULTILINE)
    assert "./scripts/release-check.sh" in makefile
    script = (REPO / "scripts" / "release-check.sh").read_text(encoding="utf-8")
    assert "uv build --all-packages" in script.replace("$UV", "uv")
