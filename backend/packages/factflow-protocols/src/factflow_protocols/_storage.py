"""The storage provider contract (`StorageProtocol`) and key rules."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from factflow_foundation import SIDECAR_SUFFIX

from ._json import JSONObject
from .errors import InvalidStorageKeyError

__all__ = ("MAX_KEY_BYTES", "StorageHealth", "StorageProtocol", "StoredObject", "validate_storage_key")

MAX_KEY_BYTES = 1024

_CONTROL_CHARACTER = re.compile("[\x00-\x1f]")
"""One search instead of a Python loop over the key's characters (every stored object checks its key)."""


def validate_storage_key(key: str, *, allow_sidecar: bool = False, allow_prefix: bool = False) -> str:
    """Check `key` against the key rules and return it.

    Args:
        key: The key to check.
        allow_sidecar: Accept the reserved `.meta.json` suffix (providers writing sidecars).
        allow_prefix: Accept an empty key or a trailing `/` (listing prefixes).

    Raises:
        InvalidStorageKeyError: the key breaks a rule; the message names it.
    """
    if allow_prefix and key == "":
        return key
    if not key:
        raise InvalidStorageKeyError("Storage key must not be empty.")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidStorageKeyError(f"Storage key is longer than {MAX_KEY_BYTES} bytes: {key[:60]!r}….")
    if key.startswith("/"):
        raise InvalidStorageKeyError(f"Storage key {key!r} must not start with '/'.")
    if "\\" in key:
        raise InvalidStorageKeyError(f"Storage key {key!r} must not contain '\\'.")
    body = key[:-1] if allow_prefix and key.endswith("/") else key
    for segment in body.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidStorageKeyError(f"Storage key {key!r} has an empty, '.' or '..' segment.")
    if not allow_sidecar and key.endswith(SIDECAR_SUFFIX):
        raise InvalidStorageKeyError(f"Storage key {key!r} ends in the reserved suffix '{SIDECAR_SUFFIX}'.")
    if _CONTROL_CHARACTER.search(key):
        raise InvalidStorageKeyError(f"Storage key {key!r} contains a control character.")
    return key


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object written to storage (both object and sidecar are durable)."""

    key: str
    size: int
    checksum: str
    content_type: str
    metadata: JSONObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StorageHealth:
    """Provider health for `system health`."""

    provider: str
    status: Literal["healthy", "degraded", "unhealthy"]
    writable: bool
    message: str | None = None


@runtime_checkable
class StorageProtocol(Protocol):
    """An object store with sidecar metadata: filesystem or S3/MinIO."""

    async def write(
        self,
        key: str,
        data: bytes,
        metadata: JSONObject | None = None,
        *,
        content_type: str = "application/json",
    ) -> StoredObject:
        """Write the object, then its sidecar (overwriting both)."""

    async def read(self, key: str) -> bytes:
        """The object's bytes; `StorageNotFoundError` when missing."""

    async def read_metadata(self, key: str) -> JSONObject:
        """The sidecar (unknown fields kept), or basic facts when there is none."""

    async def exists(self, key: str) -> bool:
        """Whether the object exists."""

    async def delete(self, key: str) -> None:
        """Remove the object and its sidecar; a missing key is a no-op."""

    def list(self, prefix: str = "") -> AsyncIterator[str]:
        """Keys under `prefix`, recursive and lexicographic, sidecars excluded."""

    async def health(self) -> StorageHealth:
        """Provider health."""
