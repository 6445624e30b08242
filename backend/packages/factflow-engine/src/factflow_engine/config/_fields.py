"""Typed field checks shared by every section of the validator (E030, E031, E032, range codes)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._issues import ValidationIssue
from ._text import join_path, show, type_name, unknown_key_suggestion

__all__ = ("MISSING", "Collector", "FieldSpec", "check_fields", "label", "number", "integer", "boolean", "text")

MISSING: Any = object()
"""Marks a key that is absent from its mapping."""

_ROUTE_PREFIX = re.compile(r"^routes\.[^.\[]+\.")


def label(path: str) -> str:
    """A path as users name it in a route: `routes.r.inbound.concurrency` → `inbound.concurrency`."""
    return _ROUTE_PREFIX.sub("", path) or path


@dataclass
class Collector:
    """Accumulates issues; the severity follows the code (`W…` warnings, `E…` errors)."""

    issues: list[ValidationIssue] = field(default_factory=list)
    warnings_enabled: bool = True

    def add(self, code: str, path: str, message: str, suggestion: str) -> None:
        severity: Literal["error", "warning"] = "warning" if code.startswith("W") else "error"
        if severity == "warning" and not self.warnings_enabled:
            return
        self.issues.append(ValidationIssue(severity, code, path, message, suggestion))

    def extend(self, issues: list[ValidationIssue]) -> None:
        self.issues.extend(issues)

    def type_error(self, path: str, expected: str, value: object) -> None:
        name = label(path)
        self.add(
            "E030",
            path,
            f"'{path}' is {type_name(value)} ({show(value)}), not {expected}.",
            f"'{name}' must be {expected}, got {show(value)}.",
        )

    def unknown_keys(self, raw: Mapping[str, Any], path: str, allowed: tuple[str, ...], code: str = "E031") -> None:
        for key in raw:
            if key not in allowed:
                where = path or "the top level"
                self.add(
                    code, join_path(path, key), f"Unknown key '{key}' in {where}.", unknown_key_suggestion(key, allowed)
                )

    def missing_key(self, path: str, key: str) -> None:
        self.add("E032", path, f"{path} has no '{key}'.", f"Add '{key}' to {path}.")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(value: object) -> bool:
    """A YAML integer (booleans are not integers)."""
    return isinstance(value, int) and not isinstance(value, bool)


def number(value: object) -> bool:
    """A YAML integer or float (booleans are not numbers)."""
    return _is_number(value)


def boolean(value: object) -> bool:
    """A YAML boolean."""
    return isinstance(value, bool)


def text(value: object) -> bool:
    """A YAML string."""
    return isinstance(value, str)


_EXPECTED = {"int": "an integer", "number": "a number", "bool": "true or false", "str": "a string"}
_TYPE_TESTS: dict[str, Callable[[object], bool]] = {"int": integer, "number": number, "bool": boolean, "str": text}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One scalar field of a section: its type, allowed range and the code for a range violation."""

    kind: Literal["int", "number", "bool", "str"]
    code: str = "E030"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False
    choices: tuple[str, ...] = ()
    suggestion: str = ""
    """Suggestion for a range or choice violation; `{name}` is replaced by the field name."""

    def in_range(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        if self.kind not in ("int", "number"):
            return True
        if isinstance(value, float) and math.isnan(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def describe_range(self) -> str:
        if self.choices:
            return " or ".join(f"'{choice}'" for choice in self.choices)
        low = _fmt(self.low)
        high = _fmt(self.high)
        if self.low is not None and self.high is not None:
            if self.low_open or self.high_open:
                return f"> {low} and < {high}" if self.low_open and self.high_open else f"{low}–{high}"
            return f"{low}–{high}"
        if self.low is not None:
            return f"> {low}" if self.low_open else f"≥ {low}"
        return f"≤ {high}"


def _fmt(bound: float | None) -> str:
    if bound is None:
        return ""
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def check_fields(
    raw: Mapping[str, Any],
    path: str,
    specs: Mapping[str, FieldSpec],
    collector: Collector,
) -> dict[str, Any]:
    """Check the scalar fields of one section.

    Returns:
        The fields that are present and valid (type and range); `None` kept for nullable ones.
    """
    clean: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in raw:
            continue
        value = raw[name]
        field_path = join_path(path, name)
        if value is None and spec.nullable:
            clean[name] = None
            continue
        if not _TYPE_TESTS[spec.kind](value):
            collector.type_error(field_path, _EXPECTED[spec.kind], value)
            continue
        if not spec.in_range(value):
            collector.add(
                spec.code,
                field_path,
                f"'{name}' is {show(value)}; allowed: {spec.describe_range()}.",
                spec.suggestion.format(name=name)
                if spec.suggestion
                else f"Set {name} to a value in {spec.describe_range()}.",
            )
            continue
        clean[name] = value
    return clean
