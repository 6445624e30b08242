"""Reading the text to embed from a payload, and its stable hash."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ("DEFAULT_TEXT_FIELDS", "find_text", "hash_text", "resolve_path")

DEFAULT_TEXT_FIELDS = ("segment.text", "text", "markdown")
"""Where the text is looked for, first match wins: a `segment_publisher` segment, then plain fields."""


def resolve_path(payload: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Follow a dotted path (`segment.text`) through nested mappings; `(found, value)`."""
    current: Any = payload
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return True, current


def find_text(payload: Mapping[str, Any], fields: Sequence[str]) -> tuple[str, str] | None:
    """The first string found at one of `fields`, with the field it came from; None if none is."""
    for path in fields:
        found, value = resolve_path(payload, path)
        if found and isinstance(value, str):
            return path, value
    return None


def hash_text(text: str) -> str:
    """`sha256:<hex>` of the UTF-8 text: tells whether a stored vector still matches its text."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
