"""Stage outputs in storage: selecting `<uuid>.json` keys and reading them back."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from factflow_foundation import Backoff
from factflow_infra.storage import ObjectEntry, StorageProvider
from factflow_protocols import StorageNotFoundError, StorageProtocol, StorageUnavailableError

__all__ = ("StoredOutput", "list_stage_outputs", "output_message_id", "read_output", "read_output_patiently")

logger = logging.getLogger(__name__)

_OUTPUT_SUFFIX = ".json"


def output_message_id(name: str) -> str | None:
    """The message id of a stage-output file name `<uuid>.json`, or None for anything else.

    Manifests (`<uuid>.fanout.json`), sidecars and other files are not stage outputs.
    """
    if not name.endswith(_OUTPUT_SUFFIX) or "/" in name:
        return None
    stem = name[: -len(_OUTPUT_SUFFIX)]
    try:
        parsed = uuid.UUID(stem)
    except ValueError:
        return None
    return stem if str(parsed) == stem.lower() else None


def _selected(key: str, prefix: str, from_path: str | None) -> bool:
    name = key[len(prefix) :]
    if output_message_id(name) is None:
        return False
    return from_path is None or name.startswith(from_path)


async def list_stage_outputs(storage: StorageProtocol, prefix: str, *, from_path: str | None = None) -> list[str]:
    """Stage-output keys directly under `prefix` (a stage prefix ending in `/`), in key order.

    Only `<uuid>.json` files whose name starts with `from_path` are selected: fan-out manifests,
    sidecars, `_artefacts/` and anything in a nested folder are skipped. A provider with a folder
    view (`list_entries(delimiter="/")`) lists one level; any other provider is listed
    recursively and filtered.

    Raises:
        StorageUnavailableError: storage is down.
    """
    keys: list[str] = []
    if isinstance(storage, StorageProvider):
        async for entry in storage.list_entries(prefix, delimiter="/"):
            if isinstance(entry, ObjectEntry) and _selected(entry.key, prefix, from_path):
                keys.append(entry.key)
    else:
        async for key in storage.list(prefix):
            if key.startswith(prefix) and _selected(key, prefix, from_path):
                keys.append(key)
    keys.sort()
    return keys


@dataclass(frozen=True, slots=True)
class StoredOutput:
    """One stored object read back with its sidecar."""

    key: str
    body: bytes
    sidecar: dict[str, Any]

    @property
    def content_type(self) -> str:
        value = self.sidecar.get("content_type")
        return value if isinstance(value, str) else "application/octet-stream"

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is not one."""
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None

    def sidecar_text(self, name: str) -> str | None:
        value = self.sidecar.get(name)
        return value if isinstance(value, str) and value else None


async def read_output(storage: StorageProtocol, key: str) -> StoredOutput | None:
    """The object at `key` and its sidecar, or None when it is gone.

    Raises:
        StorageUnavailableError: storage is down.
    """
    try:
        body = await storage.read(key)
        sidecar: Mapping[str, Any] = await storage.read_metadata(key)
    except StorageNotFoundError:
        return None
    return StoredOutput(key=key, body=body, sidecar=dict(sidecar))


async def read_output_patiently(
    storage: StorageProtocol, key: str, *, initial_delay: float = 0.5, max_delay: float = 30.0
) -> StoredOutput | None:
    """`read_output`, waiting out a storage outage (backoff from `initial_delay` to `max_delay`).

    Storage problems never fail a replay or a recovery; cancelling the caller ends the wait.
    """
    backoff = Backoff(initial_delay, max_delay)
    while True:
        try:
            return await read_output(storage, key)
        except StorageUnavailableError as exc:
            delay = backoff.next_delay()
            logger.warning("Storage unavailable reading %r (%s); retrying in %.1fs", key, exc, delay)
            await asyncio.sleep(delay)
