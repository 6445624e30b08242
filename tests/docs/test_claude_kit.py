"""The rules and skills under `.claude/` are well formed and name only things that exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLAUDE = REPO / ".claude"
SKILLS = ("async-patterns", "pipeline-yaml", "pipeline-testing", "pipeline-config")
DOTTED = re.compile(r"`(factflow_[a-z_]+(?:\.[A-Za-z_]+)+)")
PATHS = re.compile(r"`((?:docs|tests|backend|workflows)/[\w./-]+\.(?:md|py|yaml|json))`")


def _front_matter(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), path
    meta = yaml.safe_load(text.split("---\n", 2)[1])
    assert isinstance(meta, dict)
    return meta


@pytest.mark.parametrize("skill", SKILLS)
def test_skill_has_its_name_and_a_description(skill: str) -> None:
    meta = _front_matter(CLAUDE / "skills" / skill / "SKILL.md")
    assert meta["name"] == skill
    assert isinstance(meta["description"], str) and len(meta["description"]) > 40


def _documents() -> list[Path]:
    return sorted([*CLAUDE.glob("skills/*/SKILL.md"), *CLAUDE.glob("rules/*.md")])


@pytest.mark.parametrize("document", _documents(), ids=lambda path: str(path.relative_to(CLAUDE)))
def test_named_code_and_files_exist(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    for dotted in DOTTED.findall(text):
        parts = dotted.split(".")
        # The longest importable module prefix, then attributes.
        for cut in range(len(parts), 0, -1):
            try:
                target: object = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attribute in parts[cut:]:
                assert hasattr(target, attribute), f"{document.name}: {dotted}"
                target = getattr(target, attribute)
            break
        else:
            pytest.fail(f"{document.name}: {dotted} does not import")
    for relative in PATHS.findall(text):
        assert (REPO / relative).exists(), f"{document.name}: {relative}"
