"""Helpers shared by the storage providers: sidecar building, timestamps, thread iteration."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from factflow_foundation import bytes_checksum, canonical_json, rfc3339, utc_now_rfc3339

__all__ = (
    "OBJECT_FACT_FIELDS",
    "KeyLocks",
    "basic_metadata",
    "build_sidecar",
    "decode_sidecar",
    "encode_sidecar",
    "guess_content_type",
    "iterate_in_thread",
    "merge_object_facts",
)

T = TypeVar("T")

OBJECT_FACT_FIELDS = ("key", "content_type", "content_length", "checksum")
"""Sidecar fields the provider computes from the bytes; caller values for them are replaced."""

_THREAD_BATCH = 256


def guess_content_type(key: str) -> str:
    """Content type of an object whose sidecar does not say: `.json` → JSON, else octet-stream."""
    return "application/json" if key.endswith(".json") else "application/octet-stream"


def build_sidecar(key: str, data: bytes, metadata: dict[str, Any] | None, content_type: str) -> dict[str, Any]:
    """The sidecar written next to `key`: the caller's fields plus the object facts.

    `key`, `content_type`, `content_length` and `checksum` always describe the bytes actually
    written; `created_at` is filled only when the caller did not set it.
    """
    sidecar = dict(metadata or {})
    sidecar.update(
        key=key,
        content_type=content_type,
        content_length=len(data),
        checksum=bytes_checksum(data),
    )
    sidecar.setdefault("created_at", utc_now_rfc3339())
    return sidecar


def encode_sidecar(key: str, sidecar: dict[str, Any]) -> bytes:
    """Encode a sidecar as canonical JSON.

    Raises:
        ValueError: a field is not JSON-serialisable (checked before anything is written).
    """
    try:
        return canonical_json(sidecar)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Sidecar metadata for storage key {key!r} is not JSON-serialisable: {exc}") from exc


def decode_sidecar(raw: bytes) -> dict[str, Any] | None:
    """Parse a sidecar; None when it is not a JSON object (a damaged sidecar counts as missing)."""
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def basic_metadata(key: str, *, content_type: str, content_length: int, modified_at: datetime) -> dict[str, Any]:
    """The facts `read_metadata` returns for an object without a sidecar."""
    return {
        "key": key,
        "content_type": content_type,
        "content_length": content_length,
        "modified_at": rfc3339(modified_at),
    }


def merge_object_facts(sidecar: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """Fill the fields a sidecar lacks (`modified_at`, usually) from the object's own facts."""
    for name, value in facts.items():
        sidecar.setdefault(name, value)
    return sidecar


class KeyLocks:
    """One `asyncio.Lock` per key, alive only while in use.

    Writes and deletes of the same key run one at a time, so the object and its sidecar always
    come from the same write (a redelivered message may race its first delivery).
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock


def _take(iterator: Iterator[T], count: int) -> list[T]:
    batch: list[T] = []
    for item in iterator:
        batch.append(item)
        if len(batch) >= count:
            break
    return batch


async def iterate_in_thread(
    iterator: Iterator[T],
    run: Callable[[Callable[[], list[T]]], Awaitable[list[T]]],
    *,
    batch_size: int = _THREAD_BATCH,
) -> AsyncIterator[T]:
    """Drain a blocking iterator in worker threads, `batch_size` items per hop.

    Args:
        iterator: A blocking iterator (a directory walk, a paginated S3 listing).
        run: Runs a blocking callable off the event loop (`asyncio.to_thread`, or a provider's
            own executor) and returns its result.
        batch_size: Items fetched per thread hop.
    """
    try:
        while True:
            batch = await run(lambda: _take(iterator, batch_size))
            for item in batch:
                yield item
            if len(batch) < batch_size:
                return
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            # A worker may still be inside the generator if the consumer was cancelled
            # mid-hop; then the generator is left to the garbage collector.
            try:
                close()
            except ValueError:
                pass
