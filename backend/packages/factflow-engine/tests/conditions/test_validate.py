"""`validate_condition`: E401–E407 on raw condition mappings."""

from __future__ import annotations

from typing import Any

import pytest

from factflow_engine.conditions import validate_condition

P = "routes.r.adapters[0].condition"


def codes_and_paths(raw: object) -> list[tuple[str, str]]:
    return [(issue.code, issue.path) for issue in validate_condition(raw, P)]


@pytest.mark.parametrize(
    "raw",
    [
        {"field": "page.status", "operator": "eq", "value": 200},
        {"field": "a", "operator": "eq", "value": None},
        {"field": "a", "operator": "neq", "value": "x"},
        {"field": "a", "operator": "gt", "value": 1.5},
        {"field": "a", "operator": "lte", "value": "m"},
        {"field": "a", "operator": "in", "value": ["en", 1, True]},
        {"field": "a", "operator": "not_in", "value": []},
        {"field": "a", "operator": "contains", "value": "text/html"},
        {"field": "a", "operator": "matches", "value": "^https://"},
        {"field": "a", "operator": "exists"},
        {"field": "a", "operator": "exists", "value": False},
        {"field": "items.0.url", "operator": "exists"},
        {"all": [{"field": "a", "operator": "exists"}, {"any": [{"field": "b", "operator": "eq", "value": 1}]}]},
    ],
)
def test_valid_conditions(raw: dict[str, Any]) -> None:
    assert validate_condition(raw, P) == []


@pytest.mark.parametrize(
    ("raw", "code", "path"),
    [
        ({"field": "a", "operator": "equals", "value": 1}, "E401", f"{P}.operator"),
        ({"field": "a", "value": 1}, "E401", f"{P}.operator"),
        ({"field": "a", "operator": 3, "value": 1}, "E401", f"{P}.operator"),
        ({"operator": "eq", "value": 1}, "E402", f"{P}.field"),
        ({"field": "a..b", "operator": "eq", "value": 1}, "E402", f"{P}.field"),
        ({"field": "a b", "operator": "eq", "value": 1}, "E402", f"{P}.field"),
        ({"field": ".".join("x" * 17), "operator": "eq", "value": 1}, "E402", f"{P}.field"),
        ({"field": 5, "operator": "eq", "value": 1}, "E402", f"{P}.field"),
        ({"field": "a", "operator": "gt"}, "E403", f"{P}.value"),
        ({"field": "a", "operator": "exists", "value": "yes"}, "E403", f"{P}.value"),
        ({"field": "a", "operator": "exists", "value": None}, "E403", f"{P}.value"),
        ({"field": "a", "operator": "in", "value": "en"}, "E404", f"{P}.value"),
        ({"field": "a", "operator": "in", "value": [["en"]]}, "E404", f"{P}.value"),
        ({"field": "a", "operator": "in", "value": [None]}, "E404", f"{P}.value"),
        ({"field": "a", "operator": "eq", "value": [1]}, "E404", f"{P}.value"),
        ({"field": "a", "operator": "neq", "value": {"x": 1}}, "E404", f"{P}.value"),
        ({"field": "a", "operator": "gt", "value": True}, "E404", f"{P}.value"),
        ({"field": "a", "operator": "gt", "value": None}, "E404", f"{P}.value"),
        ({"field": "a", "operator": "contains", "value": ["x"]}, "E404", f"{P}.value"),
        ({"field": "a", "operator": "matches", "value": 5}, "E404", f"{P}.value"),
        ({"field": "a", "operator": "matches", "value": "[a-"}, "E405", f"{P}.value"),
        ({"field": "a", "operator": "matches", "value": "a" * 1001}, "E405", f"{P}.value"),
        ({"field": "a", "operator": "eq", "value": 1, "all": []}, "E406", P),
        ({"all": [{"field": "a", "operator": "exists"}], "any": [{"field": "a", "operator": "exists"}]}, "E406", P),
        ({"all": []}, "E406", f"{P}.all"),
        ({"any": "x"}, "E406", f"{P}.any"),
        ({}, "E406", P),
        ("status == 200", "E406", P),
        ({"all": ["x"]}, "E406", f"{P}.all[0]"),
        ({"field": "a", "operator": "eq", "value": 1, "valeu": 2}, "E031", f"{P}.valeu"),
    ],
)
def test_each_code(raw: object, code: str, path: str) -> None:
    assert codes_and_paths(raw) == [(code, path)]


def test_regex_length_limit_is_inclusive() -> None:
    assert validate_condition({"field": "a", "operator": "matches", "value": "a" * 1000}, P) == []


def _nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"field": "a", "operator": "exists"}
    for level in range(levels):
        node = {("all" if level % 2 else "any"): [node]}
    return node


def test_five_levels_are_allowed() -> None:
    assert validate_condition(_nested(5), P) == []


def test_e407_reported_once_at_the_deepest_node() -> None:
    issues = validate_condition(_nested(8), P)
    assert [issue.code for issue in issues] == ["E407"]
    # the outermost composite is level 1; level 8 is seven list hops further in
    path = issues[0].path
    assert path.startswith(P) and path[len(P) :].count("[0]") == 7
    assert "8 levels" in issues[0].message


def test_every_error_in_a_composite_is_reported() -> None:
    raw = {
        "all": [
            {"field": "a", "operator": "equals", "value": 1},
            {"any": [{"field": "", "operator": "gt"}, {"field": "b", "operator": "in", "value": 3}]},
        ]
    }
    assert codes_and_paths(raw) == [
        ("E401", f"{P}.all[0].operator"),
        ("E402", f"{P}.all[1].any[0].field"),
        ("E403", f"{P}.all[1].any[0].value"),
        ("E404", f"{P}.all[1].any[1].value"),
    ]


@pytest.mark.parametrize(
    ("operator", "suggested"),
    [
        ("equals", "eq"),
        ("==", "eq"),
        ("not_equals", "neq"),
        ("greater_than", "gt"),
        ("exist", "exists"),
        ("nin", "not_in"),
        ("containss", "contains"),
        ("matchs", "matches"),
    ],
)
def test_unknown_operator_suggestion(operator: str, suggested: str) -> None:
    (issue,) = validate_condition({"field": "a", "operator": operator, "value": 1}, P)
    assert issue.suggestion == f"Unknown '{operator}'. Did you mean '{suggested}'?"


def test_spec_sample_suggestions() -> None:
    (in_issue,) = validate_condition({"field": "a", "operator": "in", "value": "en"}, P)
    assert in_issue.suggestion == "'in' expects a list: value: [en, nb]."
    (gt_issue,) = validate_condition({"field": "a", "operator": "gt"}, P)
    assert gt_issue.suggestion == "Operator 'gt' needs a 'value'."
    (regex_issue,) = validate_condition({"field": "a", "operator": "matches", "value": "[a-"}, P)
    assert regex_issue.suggestion.startswith("Invalid regex: ")
    (unknown_key,) = validate_condition({"field": "a", "operator": "exists", "feild": 1}, P)
    assert unknown_key.suggestion == "Unknown key 'feild'. Did you mean 'field'?"
