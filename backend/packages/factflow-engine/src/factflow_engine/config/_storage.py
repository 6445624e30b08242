"""Checks of an adapter entry's `storage` (docs/reference/pipeline-yaml.md, E512 and W507)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from factflow_engine.conditions._paths import parse_field_path

from ._fields import Collector
from ._models import RESERVED_SIDECAR_FIELDS, StorageMetadataConfig, StorageMetadataField
from ._text import show

__all__ = ("check_storage",)

STORAGE_KEYS = tuple(StorageMetadataConfig.model_fields)
METADATA_FIELD_KEYS = tuple(StorageMetadataField.model_fields)
_PATH_SUGGESTION = "Write a dotted payload path such as 'page.title' (segments of letters, digits, '_' or '-')."


def check_storage(raw: Any, path: str, stage: str, collector: Collector) -> None:
    """Check `storage` of one adapter entry whose stage is `stage`."""
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        collector.type_error(path, "a mapping", raw)
        return
    collector.unknown_keys(raw, path, STORAGE_KEYS)
    enabled = raw.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        collector.type_error(f"{path}.enabled", "true or false", enabled)
    elif enabled is False:
        collector.add(
            "W507",
            f"{path}.enabled",
            f"Stage storage of '{stage}' is disabled.",
            f"Replay from '{stage}' becomes impossible, and recovery may re-run it.",
        )
    fields = raw.get("metadata_fields")
    if fields is None:
        return
    if not isinstance(fields, list):
        collector.type_error(f"{path}.metadata_fields", "a list", fields)
        return
    names: dict[str, int] = {}
    for index, item in enumerate(fields):
        item_path = f"{path}.metadata_fields[{index}]"
        name = _check_item(item, item_path, collector)
        if name is None:
            continue
        name_path = f"{item_path}.name" if isinstance(item, Mapping) else item_path
        if name in RESERVED_SIDECAR_FIELDS:
            source = item["path"] if isinstance(item, Mapping) else item
            collector.add(
                "E512",
                name_path,
                f"Metadata field name '{name}' is a reserved sidecar field.",
                f"'{name}' is reserved; use {{name: source_{name}, path: {source}}}.",
            )
        elif name in names:
            collector.add(
                "E512",
                name_path,
                f"Metadata field name '{name}' is already used by metadata_fields[{names[name]}].",
                f"Give one of them another name: {{name: other_{name}, path: ...}}.",
            )
        else:
            names[name] = index


def _check_item(item: Any, path: str, collector: Collector) -> str | None:
    """Check one `metadata_fields` item; return its sidecar name when valid."""
    if isinstance(item, str):
        segments = parse_field_path(item)
        if segments is None:
            collector.add("E512", path, f"Metadata path {show(item)} is malformed.", _PATH_SUGGESTION)
            return None
        return segments[-1]
    if not isinstance(item, Mapping):
        collector.type_error(path, "a dotted path or a {name, path} mapping", item)
        return None
    collector.unknown_keys(item, path, METADATA_FIELD_KEYS)
    valid = True
    for key in METADATA_FIELD_KEYS:
        if key not in item:
            collector.missing_key(path, key)
            valid = False
    name, source = item.get("name"), item.get("path")
    if "name" in item and (not isinstance(name, str) or not name):
        collector.type_error(f"{path}.name", "a non-empty string", name)
        valid = False
    if "path" in item and parse_field_path(source) is None:
        collector.add("E512", f"{path}.path", f"Metadata path {show(source)} is malformed.", _PATH_SUGGESTION)
        valid = False
    return name if valid and isinstance(name, str) else None
