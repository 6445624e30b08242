"""YAML reading: core schema, safety, limits and the position map (pipeline-yaml.md §1)."""

from __future__ import annotations

import math

import pytest

import factflow_engine.config._yaml as yaml_module
from factflow_engine.config import MAX_DOCUMENT_BYTES, PipelineConfigLoader, PositionMap, ValidationIssue
from factflow_engine.config._yaml import parse_document


def parsed(text: str | bytes) -> dict[str, object]:
    document, issues = parse_document(text)
    assert issues == [], issues
    assert document is not None
    assert isinstance(document.value, dict)
    return document.value


def only_issue(text: str | bytes) -> ValidationIssue:
    document, issues = parse_document(text)
    assert document is None
    assert len(issues) == 1, issues
    return issues[0]


def test_yaml_1_2_core_schema() -> None:
    value = parsed(
        "a: yes\nb: no\nc: on\nd: off\ne: true\nf: False\ng: ~\nh: null\ni:\n"
        "j: 12\nk: -3\nl: 0o17\nm: 0x1F\nn: 1.5\no: 1e3\np: .inf\nq: -.Inf\nr: .nan\n"
        "s: '12'\nt: 1_000\nu: 2024-01-01\nv: 012\nw: !!str 5\nx: !!float 2\ny: ! 7\n"
    )
    assert value["a"] == "yes" and value["b"] == "no" and value["c"] == "on" and value["d"] == "off"
    assert value["e"] is True and value["f"] is False
    assert value["g"] is None and value["h"] is None and value["i"] is None
    assert value["j"] == 12 and value["k"] == -3 and value["l"] == 15 and value["m"] == 31
    assert value["n"] == 1.5 and value["o"] == 1000.0 and isinstance(value["o"], float)
    assert value["p"] == math.inf and value["q"] == -math.inf
    r = value["r"]
    assert isinstance(r, float) and math.isnan(r)
    assert value["s"] == "12" and value["t"] == "1_000" and value["u"] == "2024-01-01"
    assert value["v"] == 12
    assert value["w"] == "5" and value["x"] == 2.0 and isinstance(value["x"], float) and value["y"] == "7"


def test_interpolation_stays_literal() -> None:
    assert parsed("a: ${HOME}\n")["a"] == "${HOME}"


def test_bom_is_stripped_for_text_and_bytes() -> None:
    assert parsed("\ufeffa: 1\n") == {"a": 1}
    assert parsed(b"\xef\xbb\xbfa: 1\n") == {"a": 1}


def test_merges_and_aliases() -> None:
    value = parsed(
        "base: &base {retries: 1, delay: 2}\nother: &other {delay: 5, extra: 6}\n"
        "a:\n  <<: *base\n  retries: 3\nb:\n  <<: [*base, *other]\nc: *base\n"
    )
    assert value["a"] == {"retries": 3, "delay": 2}
    assert value["b"] == {"retries": 1, "delay": 2, "extra": 6}  # earlier sources win
    assert value["c"] == {"retries": 1, "delay": 2}


def test_positions_are_one_based_and_fall_back_to_ancestors() -> None:
    document, _ = parse_document(
        "version: '1.0'\nroutes:\n  r:\n    adapters:\n      - type: x\n        config: {a: 1}\n"
    )
    assert document is not None
    positions = document.positions
    assert positions.exact("") == (1, 1)
    assert positions.exact("version") == (1, 1)
    assert positions.exact("routes.r") == (3, 3)
    assert positions.exact("routes.r.adapters[0]") == (5, 9)
    assert positions.exact("routes.r.adapters[0].config.a") == (6, 18)
    assert positions.exact("routes.r.adapters[0].config.missing") is None
    assert positions.locate("routes.r.adapters[0].config.missing.deeper") == (6, 9)
    assert positions.locate("routes.r.inbound") == (3, 3)
    assert positions.locate("nowhere") == (1, 1)


def test_fill_keeps_explicit_positions() -> None:
    positions = PositionMap({"a": (2, 3)})
    issue = ValidationIssue("error", "E030", "a.b", "m", "s")
    assert positions.fill(issue).line == 2 and positions.fill(issue).column == 3
    placed = ValidationIssue("error", "E030", "a.b", "m", "s", 9, 1)
    assert positions.fill(placed) is placed
    assert PositionMap().fill(issue) is issue


def test_e001_names_line_and_column() -> None:
    issue = only_issue("a: 1\nb: [1, 2\nc: 3\n")
    assert issue.code == "E001" and issue.path == ""
    assert issue.line is not None and issue.column is not None
    assert issue.suggestion.startswith(f"Fix the YAML near line {issue.line}, column {issue.column} (")


@pytest.mark.parametrize(
    "text",
    ["a: b: c\n", "a: *undefined\n", "a: !!int twelve\n", "? [1, 2]\n: x\n", "a:\n\tb: 1\n", "a: 'open\n", "a: \x07\n"],
)
def test_other_syntax_errors_are_e001(text: str) -> None:
    issue = only_issue(text)
    assert issue.code == "E001" and issue.line is not None


def test_merge_of_a_scalar_is_e001() -> None:
    assert only_issue("a:\n  <<: 5\n").code == "E001"


def test_empty_documents() -> None:
    for text in ("", "   \n", "# only a comment\n", "---\n", "--- # empty\n...\n"):
        assert only_issue(text).code == "E002", text


def test_second_document_is_e003_at_its_line() -> None:
    issue = only_issue("a: 1\n---\nb: [unclosed\n")
    assert (issue.code, issue.path, issue.line) == ("E003", "", 2)


def test_all_tag_and_duplicate_problems_are_reported_at_their_paths() -> None:
    document, issues = parse_document(
        "a: !!binary aGVsbG8=\nb:\n  c: !custom 1\n  c: 2\nd: !!set {x}\ne: [!!timestamp 2020-01-01]\n"
        "f: !<tag:example.com:x> 1\n"
    )
    assert document is None
    assert [(issue.code, issue.path, issue.line) for issue in issues] == [
        ("E004", "a", 1),
        ("E004", "b.c", 3),
        ("E005", "b.c", 4),
        ("E004", "d", 5),
        ("E004", "e[0]", 6),
        ("E004", "f", 7),
    ]
    assert issues[0].suggestion == "Remove the '!!binary' tag."
    assert issues[1].suggestion == "Remove the '!custom' tag."


def test_core_tags_are_allowed() -> None:
    assert parsed("a: !!str x\nb: !!map {c: !!seq [!!int 1, !!bool true, !!null null]}\n") == {
        "a": "x",
        "b": {"c": [1, True, None]},
    }


def test_aliased_problem_is_reported_once() -> None:
    _, issues = parse_document("a: &x !custom 1\nb: *x\nc: *x\n")
    assert [(issue.code, issue.path) for issue in issues] == [("E004", "a")]


def test_merged_keys_are_not_duplicates_but_repeated_merge_is() -> None:
    assert parsed("x: &x {a: 1}\ny: {<<: *x, a: 2}\n")["y"] == {"a": 2}
    _, issues = parse_document("x: &x {a: 1}\ny:\n  <<: *x\n  <<: *x\n")
    assert [(issue.code, issue.path, issue.line) for issue in issues] == [("E005", "y.<<", 4)]


@pytest.mark.parametrize("text", ["- 1\n", "just text\n", "42\n", "null\n", "[a, b]\n"])
def test_root_must_be_a_mapping(text: str) -> None:
    issue = only_issue(text)
    assert (issue.code, issue.path) == ("E006", "")


def test_not_utf8_is_e007_with_its_position() -> None:
    issue = only_issue(b"a: 1\nb: \xff\n")
    assert (issue.code, issue.path, issue.line, issue.column) == ("E007", "", 2, 4)
    assert only_issue("a: \udcff\n").code == "E007"  # a lone surrogate cannot be UTF-8


def test_size_limit_counts_bytes() -> None:
    filler = "#" * (MAX_DOCUMENT_BYTES - len("a: 1\n") - 1)
    assert yaml_module._decode("a: 1\n" + filler + "\n") == "a: 1\n" + filler + "\n"  # exactly 1 MiB is fine
    assert only_issue("a: 1\n" + filler + "\n#\n").code == "E008"
    assert only_issue(("a: 1\n" + filler + "é\n").encode()).code == "E008"  # 'é' is two bytes
    assert only_issue(b"a: 1\n" + b"#" * MAX_DOCUMENT_BYTES).code == "E008"


def test_alias_expansion_counts_against_the_node_limit() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for index in range(1, 6):
        name, previous = chr(97 + index), chr(96 + index)
        levels.append(f"{name}: &{name} [{', '.join(['*' + previous] * 10)}]")
    issue = only_issue("\n".join(levels) + "\n")
    assert (issue.code, issue.path) == ("E008", "")
    assert "expands" in issue.message


def test_raw_node_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_module, "MAX_NODES", 50)
    assert parse_document("[" + ", ".join(["1"] * 40) + "]\n")[1][0].code == "E006"  # within the limit
    assert only_issue("[" + ", ".join(["1"] * 60) + "]\n").code == "E008"
    assert only_issue("a: &a [1, 2, 3, 4, 5]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n").code == "E008"


def test_nesting_limit() -> None:
    assert parsed("a: " + "[" * 150 + "]" * 150 + "\n")["a"] is not None
    issue = only_issue("a: " + "[" * 250 + "]" * 250 + "\n")
    assert issue.code == "E008" and "nests" in issue.message


def test_parse_failures_stop_validation(loader: PipelineConfigLoader) -> None:
    report = loader.validate("version: 2\nroutes: !oops {}\n")
    assert report.codes() == ["E004"]
    assert report.is_parse_failure
