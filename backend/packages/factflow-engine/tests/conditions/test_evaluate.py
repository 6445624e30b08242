"""Truth tables of every operator (pipeline-yaml.md §5.2–5.3)."""

from __future__ import annotations

from typing import Any

import pytest

from factflow_engine.conditions import OperatorRegistry, evaluate_condition, parse_field_path, resolve_field
from factflow_engine.config import ConditionConfig

PAYLOAD: dict[str, Any] = {
    "status": 200,
    "ratio": 0.5,
    "flag": True,
    "off": False,
    "nothing": None,
    "name": "Alpha",
    "lang": "en",
    "url": "https://example.com/a",
    "tags": ["a", "b", 3, True],
    "page": {"title": "Home", "meta": {"lang": "nb"}},
    "items": [{"url": "u0", "n": 1}, {"url": "u1", "n": 2}],
    "zero_key": {"0": "mapped"},
}


def leaf(field: str, operator: str, *value: Any) -> ConditionConfig:
    raw: dict[str, Any] = {"field": field, "operator": operator}
    if value:
        raw["value"] = value[0]
    return ConditionConfig.model_validate(raw)


def holds(field: str, operator: str, *value: Any, payload: dict[str, Any] | None = None) -> bool:
    return evaluate_condition(leaf(field, operator, *value), PAYLOAD if payload is None else payload)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("status", 200, True),
        ("status", 200.0, True),  # numbers compare by value
        ("status", "200", False),
        ("status", 201, False),
        ("flag", True, True),
        ("flag", 1, False),  # booleans equal only booleans
        ("status", True, False),
        ("off", 0, False),
        ("off", False, True),
        ("nothing", None, True),  # null is present and equals null
        ("nothing", 0, False),
        ("name", "Alpha", True),
        ("name", "alpha", False),
        ("page", "Home", False),
        ("tags", "a", False),
        ("missing", None, False),
        ("page.title", "Home", True),
        ("page.meta.lang", "nb", True),
        ("items.1.url", "u1", True),
        ("items.0.n", 1.0, True),
        ("zero_key.0", "mapped", True),  # a digit segment is a key lookup on a mapping
    ],
)
def test_eq(field: str, value: Any, expected: bool) -> None:
    assert holds(field, "eq", value) is expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("status", 201, True),
        ("status", 200.0, False),
        ("status", "200", True),  # present and different
        ("flag", 1, True),
        ("nothing", None, False),
        ("nothing", 1, True),
        ("missing", 1, False),  # missing is false, even for neq
        ("items.5.url", "x", False),
        ("name.first", "x", False),  # path runs into a scalar: missing
    ],
)
def test_neq(field: str, value: Any, expected: bool) -> None:
    assert holds(field, "neq", value) is expected


@pytest.mark.parametrize(
    ("operator", "field", "value", "expected"),
    [
        ("gt", "status", 100, True),
        ("gt", "status", 200, False),
        ("gte", "status", 200, True),
        ("gte", "status", 200.5, False),
        ("lt", "ratio", 1, True),
        ("lt", "ratio", 0.5, False),
        ("lte", "ratio", 0.5, True),
        ("lte", "status", 199, False),
        ("gt", "name", "Aaa", True),  # strings by code point
        ("lt", "name", "alpha", True),  # 'A' < 'a'
        ("gte", "name", "Alpha", True),
        ("gt", "status", "100", False),  # number vs string: mismatch
        ("gt", "name", 1, False),
        ("gt", "flag", 0, False),  # booleans are not numbers
        ("lt", "off", 1, False),
        ("gt", "nothing", 0, False),
        ("gt", "tags", 0, False),
        ("gt", "missing", 0, False),
        ("lte", "missing", "z", False),
    ],
)
def test_ordering(operator: str, field: str, value: Any, expected: bool) -> None:
    assert holds(field, operator, value) is expected


@pytest.mark.parametrize(
    ("operator", "field", "value", "expected"),
    [
        ("in", "lang", ["en", "nb"], True),
        ("in", "lang", ["de"], False),
        ("in", "status", [200.0, 404], True),
        ("in", "flag", [1], False),
        ("in", "flag", [True], True),
        ("in", "tags", ["a"], False),  # a list field is not a scalar
        ("in", "nothing", ["x"], False),
        ("in", "missing", ["x"], False),
        ("not_in", "lang", ["de"], True),
        ("not_in", "lang", ["en"], False),
        ("not_in", "missing", ["x"], False),  # missing is false, even for not_in
        ("not_in", "page", ["x"], False),  # a mapping is not a scalar
        ("not_in", "nothing", ["x"], False),
        ("not_in", "flag", [1], True),
    ],
)
def test_membership(operator: str, field: str, value: Any, expected: bool) -> None:
    assert holds(field, operator, value) is expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("url", "example", True),
        ("url", "EXAMPLE", False),
        ("status", 2, False),  # a number is not a string
        ("url", 1, False),
        ("tags", "b", True),
        ("tags", 3.0, True),
        ("tags", 1, False),  # True is not 1
        ("tags", True, True),
        ("page", "title", True),  # mapping: key
        ("page", "Home", False),
        ("nothing", "x", False),
        ("missing", "x", False),
    ],
)
def test_contains(field: str, value: Any, expected: bool) -> None:
    assert holds(field, "contains", value) is expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("url", "^https://", True),
        ("url", "example\\.com/a$", True),
        ("url", "^http://", False),
        ("name", "ph", True),  # re.search, not re.match
        ("status", "200", False),  # not a string
        ("missing", ".*", False),
        ("url", "[", False),  # an invalid pattern at run time is false, never an exception
    ],
)
def test_matches(field: str, value: Any, expected: bool) -> None:
    assert holds(field, "matches", value) is expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("status", (), True),  # value omitted: true
        ("status", (True,), True),
        ("status", (False,), False),
        ("nothing", (), True),  # null is present
        ("nothing", (False,), False),
        ("missing", (), False),
        ("missing", (False,), True),
        ("items.1", (), True),
        ("items.2", (), False),
        ("items.x", (), False),
        ("name.first", (False,), True),
    ],
)
def test_exists(field: str, value: tuple[Any, ...], expected: bool) -> None:
    assert holds(field, "exists", *value) is expected


def test_composites() -> None:
    yes = {"field": "status", "operator": "eq", "value": 200}
    no = {"field": "status", "operator": "eq", "value": 500}
    cases: list[tuple[dict[str, Any], bool]] = [
        ({"all": [yes, yes]}, True),
        ({"all": [yes, no]}, False),
        ({"any": [no, yes]}, True),
        ({"any": [no, no]}, False),
        ({"all": [yes, {"any": [no, {"all": [yes]}]}]}, True),
        ({"any": [no, {"all": [yes, no]}]}, False),
    ]
    for raw, expected in cases:
        assert evaluate_condition(ConditionConfig.model_validate(raw), PAYLOAD) is expected, raw


def test_spec_example_condition() -> None:
    condition = ConditionConfig.model_validate(
        {
            "all": [
                {"field": "url", "operator": "matches", "value": "^https://"},
                {
                    "any": [
                        {"field": "lang", "operator": "in", "value": ["en", "nb"]},
                        {"field": "lang", "operator": "exists", "value": False},
                    ]
                },
            ]
        }
    )
    assert evaluate_condition(condition, {"url": "https://x", "lang": "en"})
    assert evaluate_condition(condition, {"url": "https://x"})
    assert not evaluate_condition(condition, {"url": "https://x", "lang": "de"})
    assert not evaluate_condition(condition, {"url": "http://x", "lang": "en"})


@pytest.mark.parametrize(
    "raw",
    [
        {"field": "status", "operator": "bogus", "value": 1},
        {"field": "a..b", "operator": "eq", "value": 1},
        {"field": None, "operator": "eq", "value": 1},
        {"field": "tags", "operator": "in", "value": "a"},  # not a list at run time
        {"field": "url", "operator": "matches", "value": 5},
        {"field": "status", "operator": "gt", "value": [1]},
    ],
)
def test_malformed_conditions_are_false_and_never_raise(raw: dict[str, Any]) -> None:
    assert evaluate_condition(ConditionConfig.model_validate(raw), PAYLOAD) is False


def test_payload_that_is_not_a_mapping_never_raises() -> None:
    condition = leaf("a", "exists")
    assert evaluate_condition(condition, ["not", "a", "mapping"]) is False  # type: ignore[arg-type]  # robustness


def test_regexes_are_compiled_once() -> None:
    from factflow_engine.conditions._operators import compile_pattern

    assert compile_pattern("^cache-me$") is compile_pattern("^cache-me$")


def test_operator_registry_is_the_closed_builtin_set() -> None:
    registry = OperatorRegistry()
    assert registry.names() == ("eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "matches", "exists")
    assert len(registry) == 11
    assert "eq" in registry and "equals" not in registry and 3 not in registry
    assert registry.get("nope") is None
    assert registry["gt"].evaluate(True, 2, 1)
    assert [operator.name for operator in registry] == list(registry.names())
    assert not hasattr(registry, "register")


def test_field_paths() -> None:
    assert parse_field_path("items.0.url") == ("items", "0", "url")
    assert parse_field_path("a-b.c_d") == ("a-b", "c_d")
    for bad in ("", "a..b", ".a", "a.", "a b", "a.$", 5, None, ".".join(["x"] * 17)):
        assert parse_field_path(bad) is None, bad
    assert parse_field_path(".".join(["x"] * 16)) is not None
    assert resolve_field({"a": [{"b": None}]}, ("a", "0", "b")) == (True, None)
    assert resolve_field({"a": [1]}, ("a", "1")) == (False, None)
    assert resolve_field({"a": "text"}, ("a", "0")) == (False, None)
