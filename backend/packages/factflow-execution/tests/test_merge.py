from __future__ import annotations

from typing import Any

import pytest

from factflow_execution import deep_merge


@pytest.mark.parametrize(
    ("base", "overrides", "expected"),
    [
        ({"a": 1}, None, {"a": 1}),
        ({"a": 1}, {}, {"a": 1}),
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3, "z": 4}}, {"a": {"x": 1, "y": 3, "z": 4}}),
        ({"a": {"deep": {"k": 1, "j": 2}}}, {"a": {"deep": {"k": 9}}}, {"a": {"deep": {"k": 9, "j": 2}}}),
        ({"a": [1, 2, 3]}, {"a": [4]}, {"a": [4]}),
        ({"a": {"x": 1}}, {"a": None}, {"a": None}),
        ({"a": {"x": 1}}, {"a": [1]}, {"a": [1]}),
        ({"a": 1}, {"a": {"x": 1}}, {"a": {"x": 1}}),
        ({"a": [{"x": 1}]}, {"a": [{"y": 2}]}, {"a": [{"y": 2}]}),
    ],
)
def test_deep_merge_rules(base: dict[str, Any], overrides: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    assert deep_merge(base, overrides) == expected


def test_deep_merge_copies_instead_of_sharing() -> None:
    base = {"a": {"list": [1]}, "b": {"c": 1}}
    overrides = {"b": {"d": [2]}}
    merged = deep_merge(base, overrides)
    merged["a"]["list"].append(99)
    merged["b"]["d"].append(99)
    assert base == {"a": {"list": [1]}, "b": {"c": 1}}
    assert overrides == {"b": {"d": [2]}}
