"""Small text helpers shared by the validator's messages and suggestions."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping

__all__ = ("closest", "did_you_mean", "join_path", "show", "type_name", "unknown_key_suggestion")

_MAX_SHOWN = 60


def show(value: object) -> str:
    """Render a YAML value for a message: `'text'`, `5`, `true`, `null`, `a mapping`, `a list`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= _MAX_SHOWN else value[: _MAX_SHOWN - 1] + "…"
        return f"'{text}'"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def type_name(value: object) -> str:
    """The YAML type of a value, for type-error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def closest(word: object, candidates: Iterable[str]) -> str | None:
    """The closest candidate with similarity ≥ 0.6, or None (deterministic for a given order)."""
    if not isinstance(word, str):
        return None
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: object, candidates: Iterable[str]) -> str:
    """`" Did you mean 'x'?"` for the closest candidate, or `""`."""
    match = closest(word, candidates)
    return f" Did you mean '{match}'?" if match else ""


def join_path(parent: str, key: str) -> str:
    """`parent.key`, or `key` at the root."""
    return f"{parent}.{key}" if parent else key


def unknown_key_suggestion(key: object, allowed: Iterable[str]) -> str:
    """`Unknown key 'x'. Did you mean 'y'?`, or the allowed keys when nothing is close."""
    allowed = list(allowed)
    hint = did_you_mean(key, allowed)
    if hint:
        return f"Unknown key {show(key)}.{hint}"
    return f"Unknown key {show(key)}; allowed keys: {', '.join(allowed)}."
