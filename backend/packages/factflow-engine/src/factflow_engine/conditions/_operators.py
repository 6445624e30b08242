"""The closed set of condition operators (docs/reference/pipeline-yaml.md).

Each operator checks its `value` when a file is validated and evaluates a payload field at run
time. Evaluation never raises: a type mismatch is simply false.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from factflow_engine.config._text import show

__all__ = (
    "BUILTIN_OPERATORS",
    "MAX_PATTERN_LENGTH",
    "ConditionOperator",
    "OperatorRegistry",
    "ValueProblem",
    "compile_pattern",
    "values_equal",
)

MAX_PATTERN_LENGTH = 1000
"""Longest regular expression `matches` accepts."""


@dataclass(frozen=True, slots=True)
class ValueProblem:
    """Why an operator rejects a `value` (turned into an E403–E405 issue at `….value`)."""

    code: str
    message: str
    suggestion: str


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: object) -> bool:
    """A JSON scalar other than null: string, number or boolean."""
    return isinstance(value, str | bool) or _is_number(value)


def values_equal(left: object, right: object) -> bool:
    """Equality of JSON scalars: numbers by numeric value, booleans only with booleans."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return left is None and right is None


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str] | re.error:
    try:
        return re.compile(pattern)
    except re.error as exc:
        return exc
    except (RecursionError, OverflowError, ValueError) as exc:
        # Pathological patterns can blow the sre parser up in other ways; treat them alike.
        return re.error(str(exc) or type(exc).__name__)


def compile_pattern(pattern: str) -> re.Pattern[str] | re.error:
    """Compile `pattern` once (cached); return the `re.error` instead of raising it."""
    return _compile(pattern)


class ConditionOperator(ABC):
    """One condition operator: the `value` it accepts and when it is true.

    Subclasses set `name` and implement `check_value` and `test`. `evaluate` handles missing
    fields (false for every operator except `exists`).
    """

    name: ClassVar[str]
    """The YAML `operator` name."""
    value_required: ClassVar[bool] = True
    """Whether a leaf with this operator must give `value`."""

    def check_value(self, value: object, *, given: bool) -> ValueProblem | None:
        """Return why `value` does not suit this operator, or None when it does.

        Args:
            value: The raw `value` of the condition (None when not given).
            given: Whether the condition had a `value` key.
        """
        if not given:
            if not self.value_required:
                return None
            return ValueProblem(
                "E403",
                f"Operator '{self.name}' has no 'value'.",
                f"Operator '{self.name}' needs a 'value'.",
            )
        return self.check_given_value(value)

    @abstractmethod
    def check_given_value(self, value: object) -> ValueProblem | None:
        """Return why a given `value` does not suit this operator, or None."""

    def evaluate(self, present: bool, actual: Any, expected: Any) -> bool:
        """Whether the condition holds for a field.

        Args:
            present: Whether the field exists in the payload (`None` values are present).
            actual: The field's value when present.
            expected: The condition's `value`.
        """
        if not present:
            return False
        return self.test(actual, expected)

    @abstractmethod
    def test(self, actual: Any, expected: Any) -> bool:
        """Whether the condition holds for a present field; must not raise."""

    def _mismatch(self, expected: str, value: object, suggestion: str) -> ValueProblem:
        return ValueProblem("E404", f"'{self.name}' expects {expected}, got {show(value)}.", suggestion)


class _ScalarOrNullOperator(ConditionOperator):
    def check_given_value(self, value: object) -> ValueProblem | None:
        if value is None or _is_scalar(value):
            return None
        return self._mismatch(
            "a scalar or null", value, "Compare with a single value; use 'in' to match any item of a list."
        )


class EqOperator(_ScalarOrNullOperator):
    """`eq`: the field equals `value` (numbers by value, booleans only equal booleans)."""

    name = "eq"

    def test(self, actual: Any, expected: Any) -> bool:
        return values_equal(actual, expected)


class NeqOperator(_ScalarOrNullOperator):
    """`neq`: the field is present and differs from `value`."""

    name = "neq"

    def test(self, actual: Any, expected: Any) -> bool:
        return not values_equal(actual, expected)


class _OrderingOperator(ConditionOperator):
    def check_given_value(self, value: object) -> ValueProblem | None:
        if _is_number(value) or isinstance(value, str):
            return None
        return self._mismatch(
            "a number or a string", value, f"'{self.name}' compares with a number or a string: value: 10."
        )

    def test(self, actual: Any, expected: Any) -> bool:
        both_numbers = _is_number(actual) and _is_number(expected)
        both_strings = isinstance(actual, str) and isinstance(expected, str)
        if not (both_numbers or both_strings):
            return False
        return self.compare(actual, expected)

    @abstractmethod
    def compare(self, actual: Any, expected: Any) -> bool:
        """Compare two numbers or two strings."""


class GtOperator(_OrderingOperator):
    """`gt`: both numbers or both strings, and field > value."""

    name = "gt"

    def compare(self, actual: Any, expected: Any) -> bool:
        return bool(actual > expected)


class GteOperator(_OrderingOperator):
    """`gte`: both numbers or both strings, and field ≥ value."""

    name = "gte"

    def compare(self, actual: Any, expected: Any) -> bool:
        return bool(actual >= expected)


class LtOperator(_OrderingOperator):
    """`lt`: both numbers or both strings, and field < value."""

    name = "lt"

    def compare(self, actual: Any, expected: Any) -> bool:
        return bool(actual < expected)


class LteOperator(_OrderingOperator):
    """`lte`: both numbers or both strings, and field ≤ value."""

    name = "lte"

    def compare(self, actual: Any, expected: Any) -> bool:
        return bool(actual <= expected)


class _MembershipOperator(ConditionOperator):
    def check_given_value(self, value: object) -> ValueProblem | None:
        if isinstance(value, list) and all(_is_scalar(item) for item in value):
            return None
        what = "a list" if not isinstance(value, list) else "a list of scalars (no lists, mappings or nulls)"
        return self._mismatch("a list of scalars", value, f"'{self.name}' expects {what}: value: [en, nb].")

    def _member(self, actual: Any, expected: Any) -> bool:
        return isinstance(expected, list) and any(values_equal(actual, item) for item in expected)


class InOperator(_MembershipOperator):
    """`in`: the field is a scalar equal to an item of `value`."""

    name = "in"

    def test(self, actual: Any, expected: Any) -> bool:
        return _is_scalar(actual) and self._member(actual, expected)


class NotInOperator(_MembershipOperator):
    """`not_in`: the field is present, is a scalar, and equals no item of `value`."""

    name = "not_in"

    def test(self, actual: Any, expected: Any) -> bool:
        return _is_scalar(actual) and isinstance(expected, list) and not self._member(actual, expected)


class ContainsOperator(ConditionOperator):
    """`contains`: substring of a string field, element of a list field, or key of a mapping field."""

    name = "contains"

    def check_given_value(self, value: object) -> ValueProblem | None:
        if _is_scalar(value):
            return None
        return self._mismatch("a scalar", value, "'contains' expects a single value: value: 'text/html'.")

    def test(self, actual: Any, expected: Any) -> bool:
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        if isinstance(actual, list):
            return any(values_equal(item, expected) for item in actual)
        if isinstance(actual, Mapping):
            return isinstance(expected, str) and expected in actual
        return False


class MatchesOperator(ConditionOperator):
    """`matches`: the field is a string and `re.search(value, field)` finds a match."""

    name = "matches"

    def check_given_value(self, value: object) -> ValueProblem | None:
        if not isinstance(value, str):
            return self._mismatch("a regular expression string", value, "Quote the pattern: value: '^https://'.")
        if len(value) > MAX_PATTERN_LENGTH:
            return ValueProblem(
                "E405",
                f"The 'matches' pattern is {len(value)} characters long (max {MAX_PATTERN_LENGTH}).",
                f"Shorten the pattern to at most {MAX_PATTERN_LENGTH} characters.",
            )
        compiled = compile_pattern(value)
        if isinstance(compiled, re.error):
            return ValueProblem(
                "E405", f"The 'matches' pattern {show(value)} does not compile.", f"Invalid regex: {compiled}."
            )
        return None

    def test(self, actual: Any, expected: Any) -> bool:
        if not isinstance(actual, str) or not isinstance(expected, str) or len(expected) > MAX_PATTERN_LENGTH:
            return False
        compiled = compile_pattern(expected)
        if isinstance(compiled, re.error):
            return False
        return compiled.search(actual) is not None


class ExistsOperator(ConditionOperator):
    """`exists`: `value` true (the default) means the field is present, false that it is missing."""

    name = "exists"
    value_required = False

    def check_given_value(self, value: object) -> ValueProblem | None:
        if isinstance(value, bool):
            return None
        return ValueProblem(
            "E403",
            f"Operator 'exists' takes true or false, got {show(value)}.",
            "Write 'value: true' or 'value: false', or leave it out for true.",
        )

    def evaluate(self, present: bool, actual: Any, expected: Any) -> bool:
        # An omitted value is true; only an explicit false asks for a missing field.
        return present if expected is not False else not present

    def test(self, actual: Any, expected: Any) -> bool:
        return True


_BUILTIN_OPERATORS: tuple[type[ConditionOperator], ...] = (
    EqOperator,
    NeqOperator,
    GtOperator,
    GteOperator,
    LtOperator,
    LteOperator,
    InOperator,
    NotInOperator,
    ContainsOperator,
    MatchesOperator,
    ExistsOperator,
)


class OperatorRegistry:
    """The closed set of built-in condition operators, by name.

    The set cannot be extended: a pipeline file means the same thing wherever it runs.

    Example:
        >>> OperatorRegistry().get("eq").evaluate(True, 200, 200.0)
        True
    """

    __slots__ = ("_operators",)

    def __init__(self) -> None:
        self._operators: dict[str, ConditionOperator] = {cls.name: cls() for cls in _BUILTIN_OPERATORS}

    def get(self, name: object) -> ConditionOperator | None:
        """The operator called `name`, or None."""
        return self._operators.get(name) if isinstance(name, str) else None

    def __getitem__(self, name: str) -> ConditionOperator:
        return self._operators[name]

    def names(self) -> tuple[str, ...]:
        """Every operator name, in the order of the specification."""
        return tuple(self._operators)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._operators

    def __iter__(self) -> Iterator[ConditionOperator]:
        return iter(self._operators.values())

    def __len__(self) -> int:
        return len(self._operators)


BUILTIN_OPERATORS = OperatorRegistry()
"""The shared registry used by `evaluate_condition` and `validate_condition`."""
