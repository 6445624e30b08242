"""Dotted field paths into a payload (docs/reference/pipeline-yaml.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ("FIELD_SEGMENT_PATTERN", "MAX_FIELD_SEGMENTS", "parse_field_path", "resolve_field")

FIELD_SEGMENT_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
"""One segment of a field path."""
MAX_FIELD_SEGMENTS = 16
"""Longest field path, in segments."""

_INDEX_PATTERN = re.compile(r"^[0-9]+$")


def parse_field_path(field: object) -> tuple[str, ...] | None:
    """Split a dotted path into its segments, or return None when it is malformed.

    Args:
        field: The raw `field` value of a condition (or a `metadata_fields` path).

    Returns:
        The segments, or None when `field` is not a string, is empty, has an empty or
        malformed segment, or has more than `MAX_FIELD_SEGMENTS` segments.
    """
    if not isinstance(field, str) or not field:
        return None
    segments = tuple(field.split("."))
    if len(segments) > MAX_FIELD_SEGMENTS:
        return None
    if not all(FIELD_SEGMENT_PATTERN.match(segment) for segment in segments):
        return None
    return segments


def resolve_field(payload: object, segments: Sequence[str]) -> tuple[bool, Any]:
    """Follow `segments` into `payload`.

    A segment of digits indexes into a list. The field is missing when a key is absent, an
    index is out of range, or the path runs into a scalar; a field holding `None` is present.

    Returns:
        `(present, value)`; `value` is None when the field is missing.
    """
    current: Any = payload
    for segment in segments:
        if isinstance(current, Mapping):
            if segment not in current:
                return False, None
            current = current[segment]
        elif isinstance(current, Sequence) and not isinstance(current, str | bytes | bytearray):
            if not _INDEX_PATTERN.match(segment):
                return False, None
            index = int(segment)
            if index >= len(current):
                return False, None
            current = current[index]
        else:
            return False, None
    return True, current
