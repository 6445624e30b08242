"""`StorageBackendAdapter`: canonical JSON objects with sidecars over any `StorageProtocol`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from factflow_foundation import canonical_json
from factflow_protocols import StorageProtocol, StorageUnavailableError, StoredObject

__all__ = ("DEFAULT_WRITE_RETRY_DELAYS", "StorageBackendAdapter", "StorageCounters")

logger = logging.getLogger(__name__)

DEFAULT_WRITE_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0)
"""Waits before the retries of a failed write (docs/concepts/storage.md)."""

JSON_CONTENT_TYPE = "application/json"


@dataclass(slots=True)
class StorageCounters:
    """Process-wide write counters (`GET /system/metrics` → `storage`)."""

    writes_total: int = 0
    """Objects written successfully."""
    write_failures_total: int = 0
    """Write attempts that failed (each retry counts)."""


class StorageBackendAdapter:
    """Writes JSON bodies as canonical JSON plus a sidecar, retrying transient failures.

    A write that fails with `StorageUnavailableError` is retried after each delay of
    `retry_delays` (0.5 s, 1 s, 2 s); if the last retry fails too, the error propagates and the
    caller decides whether to back off further. Any other error propagates at once.

    Args:
        storage: The provider.
        retry_delays: Waits before each retry of a failed write.
        counters: Shared counters to update; a private instance when omitted.
        sleep: The wait function (tests inject a recorder).
    """

    def __init__(
        self,
        storage: StorageProtocol,
        *,
        retry_delays: Sequence[float] = DEFAULT_WRITE_RETRY_DELAYS,
        counters: StorageCounters | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._storage = storage
        self._retry_delays = tuple(retry_delays)
        self.counters = counters if counters is not None else StorageCounters()
        self._sleep = sleep

    @property
    def storage(self) -> StorageProtocol:
        """The wrapped provider."""
        return self._storage

    @staticmethod
    def encode(body: Any) -> bytes:
        """The canonical JSON bytes of `body`.

        Raises:
            ValueError: `body` holds NaN, an infinity or a value JSON cannot express.
        """
        try:
            return canonical_json(body)
        except TypeError as exc:
            raise ValueError(f"value is not JSON-serialisable: {exc}") from exc

    async def write_bytes(
        self, key: str, data: bytes, metadata: dict[str, Any], *, content_type: str = JSON_CONTENT_TYPE
    ) -> StoredObject:
        """Write `data` with `metadata` as its sidecar, retrying `StorageUnavailableError`.

        Raises:
            StorageUnavailableError: every attempt failed.
            StorageError: a non-transient failure (invalid key, ...).
        """
        attempt = 0
        while True:
            try:
                stored = await self._storage.write(key, data, metadata, content_type=content_type)
            except StorageUnavailableError as exc:
                self.counters.write_failures_total += 1
                if attempt >= len(self._retry_delays):
                    raise
                delay = self._retry_delays[attempt]
                attempt += 1
                logger.warning("Storage write of %r failed (%s); retry %d in %.1fs", key, exc, attempt, delay)
                await self._sleep(delay)
                continue
            self.counters.writes_total += 1
            return stored

    async def write_json(self, key: str, body: Any, metadata: dict[str, Any]) -> StoredObject:
        """Write `body` as canonical JSON; see `write_bytes`."""
        return await self.write_bytes(key, self.encode(body), metadata)

    async def read_json(self, key: str) -> Any:
        """Read and parse a JSON object.

        Raises:
            StorageNotFoundError: nothing is stored at `key`.
            StorageUnavailableError: the provider is down.
            ValueError: the object is not valid JSON.
        """
        data = await self._storage.read(key)
        return json.loads(data)

    async def exists(self, key: str) -> bool:
        """Whether an object is stored at `key`."""
        return await self._storage.exists(key)

    async def read_metadata(self, key: str) -> dict[str, Any]:
        """The sidecar of `key`."""
        return await self._storage.read_metadata(key)
