"""Canonical serialisation and `sha256:<hex>` hashes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgpack

__all__ = ("bytes_checksum", "canonical_json", "config_hash", "content_hash")


_CONTAINERS = (dict, list, tuple)
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""Reused: `json.dumps` with options builds a new encoder on every call (stateless between calls)."""


def _sorted(obj: Any) -> Any:
    # Scalars are passed through without a call of their own: hashing runs on every payload.
    if isinstance(obj, dict):
        return {key: _sorted(value) if isinstance(value, _CONTAINERS) else value for key, value in sorted(obj.items())}
    if isinstance(obj, list | tuple):
        return [_sorted(item) if isinstance(item, _CONTAINERS) else item for item in obj]
    return obj


def canonical_json(obj: Any) -> bytes:
    """Serialise `obj` as canonical JSON: sorted keys, no whitespace, UTF-8.

    Raises:
        ValueError: `obj` holds NaN or an infinity, or a value JSON cannot express.
    """
    return _CANONICAL_ENCODER.encode(obj).encode("utf-8")


def content_hash(obj: Any) -> str:
    """Hash `obj` as msgpack with sorted keys; lineage input and output hashes use this."""
    packed = msgpack.packb(_sorted(obj), use_bin_type=True)
    return "sha256:" + hashlib.sha256(packed).hexdigest()


def bytes_checksum(data: bytes) -> str:
    """Hash raw object bytes (the storage `checksum`)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_hash(config_yaml: str) -> str:
    """Hash a pipeline's YAML text exactly as stored."""
    return bytes_checksum(config_yaml.encode("utf-8"))
