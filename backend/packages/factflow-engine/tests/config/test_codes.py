"""The code catalogue: complete, consistent with the validator, and rendered into the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from factflow_engine.config import PipelineConfigLoader
from factflow_engine.config.codes import CODES, get_code, main, render_markdown

REPO_ROOT = Path(__file__).resolve().parents[5]
ERROR_CODES_DOC = REPO_ROOT / "docs" / "reference" / "error-codes.md"

SPEC_CODES = (
    [f"E00{n}" for n in range(1, 9)]
    + ["E010", "E011", "E012", "E020", "E021", "E030", "E031", "E032"]
    + [f"E10{n}" for n in range(1, 10)]
    + [f"E20{n}" for n in range(1, 9)]
    + [f"E30{n}" for n in range(1, 9)]
    + [f"E40{n}" for n in range(1, 8)]
    + [f"E5{n:02d}" for n in range(1, 16)]
    + [f"W50{n}" for n in range(1, 8)]
)

# Sample suggestions exactly as pipeline-yaml.md §8.3 writes them (a few spot checks).
SPEC_SAMPLES = {
    "E001": "Fix the YAML near line 12, column 5 (unexpected ':').",
    "E030": "'inbound.concurrency' must be an integer, got '5'.",
    "E106": "Route 'scraper' does not exist. Did you mean 'scrape'?",
    "E401": "Unknown 'equals'. Did you mean 'eq'?",
    "E502": "max_retry_delay_seconds (5) must be ≥ retry_delay_seconds (10).",
    "W504": "scrape → crawl → scrape loops; orchestrator.max_hops caps it at 64.",
}


def test_catalogue_holds_exactly_the_spec_codes_in_order() -> None:
    assert list(CODES) == SPEC_CODES


def test_entries_are_complete() -> None:
    for code, info in CODES.items():
        assert info.code == code
        assert info.severity == ("warning" if code.startswith("W") else "error")
        assert info.trigger and info.suggestion and info.example
        assert get_code(code) is info
    for code, sample in SPEC_SAMPLES.items():
        assert CODES[code].suggestion == sample
    with pytest.raises(KeyError):
        get_code("E999")


RUNNABLE = [info for info in CODES.values() if not info.excerpt]


@pytest.mark.parametrize("code", [info.code for info in RUNNABLE])
def test_example_triggers_its_code_and_the_fix_is_clean(loader: PipelineConfigLoader, code: str) -> None:
    info = CODES[code]
    report = loader.validate(info.example.encode(info.example_encoding))
    assert (code, info.path) in [(issue.code, issue.path) for issue in report.issues], report.to_dict()
    if info.fix is not None:
        fixed = loader.validate(info.fix)
        assert fixed.issues == (), fixed.to_dict()


def test_excerpts_are_only_the_size_limits() -> None:
    assert sorted(info.code for info in CODES.values() if info.excerpt) == ["E108", "E109"]


def test_committed_reference_matches_the_catalogue() -> None:
    # `make docs` regenerates the file; this keeps the two from drifting.
    assert ERROR_CODES_DOC.read_text(encoding="utf-8") == render_markdown()


def test_rendering_lists_every_code_with_an_anchor() -> None:
    rendered = render_markdown()
    for code in CODES:
        assert f"[{code}](#{code.lower()})" in rendered
        assert f"\n### {code}\n" in rendered


def test_cli_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "docs" / "error-codes.md"
    assert main(["--check", str(target)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["--write", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_markdown()
    assert main(["--check", str(target)]) == 0
    assert main([]) == 0
    assert capsys.readouterr().out == render_markdown()
