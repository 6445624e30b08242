"""Check a raw condition mapping and report E401–E407 (docs/reference/pipeline-yaml.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from factflow_engine.config._issues import ValidationIssue
from factflow_engine.config._text import did_you_mean, show, unknown_key_suggestion

from ._operators import BUILTIN_OPERATORS
from ._paths import MAX_FIELD_SEGMENTS, parse_field_path

__all__ = ("CONDITION_KEYS", "MAX_CONDITION_DEPTH", "validate_condition")

MAX_CONDITION_DEPTH = 5
"""Composites (`all`/`any`) may nest at most this many levels."""
LEAF_KEYS = ("field", "operator", "value")
COMPOSITE_KEYS = ("all", "any")
CONDITION_KEYS = LEAF_KEYS + COMPOSITE_KEYS
"""Every key a condition mapping may hold."""

_SHAPE_SUGGESTION = "Use field/operator/value or one non-empty 'all'/'any'."

# Spellings from other query languages that difflib alone would not connect to ours.
_OPERATOR_ALIASES = {
    "=": "eq",
    "==": "eq",
    "equal": "eq",
    "equals": "eq",
    "is": "eq",
    "!=": "neq",
    "ne": "neq",
    "not_equal": "neq",
    "not_equals": "neq",
    ">": "gt",
    "greater_than": "gt",
    ">=": "gte",
    "ge": "gte",
    "<": "lt",
    "less_than": "lt",
    "<=": "lte",
    "le": "lte",
    "nin": "not_in",
    "not in": "not_in",
    "has": "contains",
    "includes": "contains",
    "match": "matches",
    "regex": "matches",
    "=~": "matches",
    "exist": "exists",
    "present": "exists",
}


def _operator_hint(name: object) -> str:
    if isinstance(name, str) and name.lower() in _OPERATOR_ALIASES:
        return f" Did you mean '{_OPERATOR_ALIASES[name.lower()]}'?"
    return did_you_mean(name, BUILTIN_OPERATORS.names())


@dataclass
class _State:
    issues: list[ValidationIssue] = field(default_factory=list)
    deepest: tuple[int, str] | None = None

    def error(self, code: str, path: str, message: str, suggestion: str) -> None:
        self.issues.append(ValidationIssue("error", code, path, message, suggestion))


def validate_condition(raw: object, path: str) -> list[ValidationIssue]:
    """Check one condition as written in YAML.

    Reports E401–E407 (and E031 for unknown keys) with paths below `path`, e.g.
    `routes.scrape.outbound[0].condition.all[1].value`. `line`/`column` are left unset.

    Args:
        raw: The raw condition value (a mapping when well formed).
        path: Where the condition sits in the document.

    Returns:
        The issues found; empty when the condition is valid.
    """
    state = _State()
    _check(raw, path, 0, state)
    if state.deepest is not None:
        depth, deepest_path = state.deepest
        state.error(
            "E407",
            deepest_path,
            f"The condition nests {depth} levels of 'all'/'any' (max {MAX_CONDITION_DEPTH}).",
            f"Flatten the condition (max {MAX_CONDITION_DEPTH} levels).",
        )
    return state.issues


def _check(raw: object, path: str, depth: int, state: _State) -> None:
    if not isinstance(raw, Mapping):
        state.error("E406", path, f"A condition must be a mapping, got {show(raw)}.", _SHAPE_SUGGESTION)
        return
    for key in raw:
        if key not in CONDITION_KEYS:
            state.error(
                "E031",
                f"{path}.{key}",
                f"Unknown condition key '{key}'.",
                unknown_key_suggestion(key, CONDITION_KEYS),
            )
    leaf_keys = [key for key in LEAF_KEYS if key in raw]
    composite_keys = [key for key in COMPOSITE_KEYS if key in raw]
    if composite_keys and leaf_keys:
        state.error(
            "E406",
            path,
            f"The condition mixes {', '.join(map(repr, leaf_keys))} with '{composite_keys[0]}'.",
            _SHAPE_SUGGESTION,
        )
        return
    if len(composite_keys) == 2:
        state.error("E406", path, "The condition gives both 'all' and 'any'.", _SHAPE_SUGGESTION)
        return
    if composite_keys:
        _check_composite(raw, path, composite_keys[0], depth + 1, state)
    elif leaf_keys:
        _check_leaf(raw, path, state)
    else:
        state.error("E406", path, "The condition has neither field/operator/value nor 'all'/'any'.", _SHAPE_SUGGESTION)


def _check_composite(raw: Mapping[object, object], path: str, key: str, depth: int, state: _State) -> None:
    if depth > MAX_CONDITION_DEPTH and (state.deepest is None or depth > state.deepest[0]):
        state.deepest = (depth, path)
    items = raw[key]
    item_path = f"{path}.{key}"
    if not isinstance(items, list) or not items:
        what = "an empty list" if isinstance(items, list) else show(items)
        message = f"'{key}' must be a non-empty list of conditions, got {what}."
        state.error("E406", item_path, message, _SHAPE_SUGGESTION)
        return
    for index, item in enumerate(items):
        _check(item, f"{item_path}[{index}]", depth, state)


def _check_leaf(raw: Mapping[object, object], path: str, state: _State) -> None:
    if "field" not in raw:
        state.error("E402", f"{path}.field", "The condition has no 'field'.", "Use a dotted path such as 'page.url'.")
    elif parse_field_path(raw["field"]) is None:
        state.error(
            "E402",
            f"{path}.field",
            f"The field path {show(raw['field'])} is malformed.",
            f"Use a dotted path such as 'page.url' (segments of letters, digits, '_' or '-'; "
            f"at most {MAX_FIELD_SEGMENTS}).",
        )
    operator_name = raw.get("operator")
    operator = BUILTIN_OPERATORS.get(operator_name)
    if operator is None:
        if "operator" not in raw:
            message, hint = "The condition has no 'operator'.", ""
        else:
            message = f"Unknown condition operator {show(operator_name)}."
            hint = _operator_hint(operator_name)
        if hint:
            suggestion = f"Unknown {show(operator_name)}.{hint}"
        else:
            suggestion = f"Use one of: {', '.join(BUILTIN_OPERATORS.names())}."
        state.error("E401", f"{path}.operator", message, suggestion)
        return
    problem = operator.check_value(raw.get("value"), given="value" in raw)
    if problem is not None:
        state.error(problem.code, f"{path}.value", problem.message, problem.suggestion)
