"""Deep merge of `init_payload_overrides` into `init_message.payload` (docs/reference/pipeline-yaml.md)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ("deep_merge",)


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge `overrides` into a copy of `base`.

    Nested mappings merge key by key; any other value (lists and `None` included) replaces the
    old one. Neither argument is modified, and the result shares no mutable parts with them.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in (overrides or {}).items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
