"""`StageStorageAdapter`: stage outputs and fan-out manifests of one adapter entry (docs/concepts/storage.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from factflow_engine.config import StorageMetadataConfig
from factflow_foundation import Backoff, ExecutionPathResolver, bytes_checksum, utc_now_rfc3339
from factflow_protocols import StorageNotFoundError, StorageObjectCreated, StorageUnavailableError

from ._backend import JSON_CONTENT_TYPE, StorageBackendAdapter
from ._metadata import SidecarKind, StageIdentity, WriteProvenance, build_sidecar, extract_metadata_fields

__all__ = ("ObjectCreatedCallback", "StageStorageAdapter", "StageStorageResult", "StorageBackoff")

logger = logging.getLogger(__name__)

T = TypeVar("T")

ObjectCreatedCallback = Callable[[StorageObjectCreated], None]
"""Told the `storage.object.created` event data of every object written; must not raise."""


@dataclass(frozen=True, slots=True)
class StageStorageResult:
    """The outcome of one stage write."""

    key: str
    """The object key (also when storage is disabled: where it would have gone)."""
    written: bool
    """False when storage is disabled for the stage."""
    checksum: str | None = None
    """`sha256:<hex>` of the bytes written."""
    size: int = 0
    """Bytes written."""
    duration_ms: float = 0.0
    """Time spent writing, backoff waits included."""


class StorageBackoff:
    """Storage backoff of one route: retry a write until storage is back (docs/concepts/storage.md).

    While any write of the route is backing off, `active` is true and `on_change(True)` has been
    called, so the route stops reading; `on_change(False)` follows once every write succeeded.
    Waits start at `initial_delay` and double up to `max_delay`; cancellation ends them. With a
    `probe` (is storage writable again?), asked every `probe_interval` seconds, a wait ends as soon
    as storage is back rather than at the end of a doubling that may have reached `max_delay`.
    """

    def __init__(
        self,
        *,
        initial_delay: float = 1.0,
        max_delay: float = 30.0,
        on_change: Callable[[bool], None] | None = None,
        probe: Callable[[], Awaitable[bool]] | None = None,
        probe_interval: float = 0.5,
    ) -> None:
        self._probe = probe
        self._probe_interval = probe_interval
        self._initial_delay = initial_delay
        self._max_delay = max_delay
        self._on_change = on_change
        self._waiting = 0

    @property
    def active(self) -> bool:
        return self._waiting > 0

    def _set_waiting(self, delta: int) -> None:
        before = self._waiting > 0
        self._waiting += delta
        after = self._waiting > 0
        if before != after and self._on_change is not None:
            try:
                self._on_change(after)
            except Exception:  # an observer must never break a write
                logger.exception("Storage backoff observer failed")

    async def run(self, operation: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Run `operation`, retrying `StorageUnavailableError` for as long as it persists."""
        backoff = Backoff(self._initial_delay, self._max_delay)
        backing_off = False
        try:
            while True:
                try:
                    return await operation()
                except StorageUnavailableError as exc:
                    if not backing_off:
                        backing_off = True
                        self._set_waiting(+1)
                    delay = backoff.next_delay()
                    logger.warning("Storage unavailable for %s (%s); backing off %.1fs", what, exc, delay)
                    await self._wait(delay)
        finally:
            if backing_off:
                self._set_waiting(-1)

    async def _wait(self, delay: float) -> None:
        probe = self._probe
        if probe is None or delay <= self._probe_interval:
            await asyncio.sleep(delay)
            return
        deadline = asyncio.get_running_loop().time() + delay
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.sleep(min(self._probe_interval, remaining))
            try:
                if await probe():
                    return
            except Exception:  # a failing probe only means "not back yet"
                logger.debug("Storage probe failed", exc_info=True)


class StageStorageAdapter:
    """Stores the outputs of one adapter entry of one route.

    There is one per (route, adapter). Keys depend only on (execution, route, stage, message
    id), so a redelivery overwrites the same objects. Writes go through `StorageBackendAdapter`
    (three quick retries) and then through `backoff` (retry until storage is back).

    Args:
        backend: The storage backend.
        identity: Execution, route, stage, adapter and config of the objects.
        config: The adapter entry's `storage` settings.
        backoff: The route's storage backoff; a private one when omitted.
        on_object_created: Told `StorageObjectCreated` for every object written.
    """

    def __init__(
        self,
        backend: StorageBackendAdapter,
        *,
        identity: StageIdentity,
        config: StorageMetadataConfig | None = None,
        backoff: StorageBackoff | None = None,
        on_object_created: ObjectCreatedCallback | None = None,
    ) -> None:
        self._backend = backend
        self.identity = identity
        self.config = config if config is not None else StorageMetadataConfig()
        self._backoff = backoff if backoff is not None else StorageBackoff()
        self._on_object_created = on_object_created

    @property
    def enabled(self) -> bool:
        """Whether this stage stores its outputs."""
        return self.config.enabled

    @property
    def config_hash(self) -> str | None:
        return self.identity.config_hash

    def output_key(self, message_id: str) -> str:
        """`executions/<exec>/<route>/<stage>/<msg>.json`."""
        ident = self.identity
        return ExecutionPathResolver.output_key(ident.execution_id, ident.route_id, ident.stage, message_id)

    def manifest_key(self, message_id: str) -> str:
        """`executions/<exec>/<route>/<stage>/<msg>.fanout.json`."""
        ident = self.identity
        return ExecutionPathResolver.manifest_key(ident.execution_id, ident.route_id, ident.stage, message_id)

    async def write_output(
        self,
        payload: Mapping[str, Any],
        *,
        provenance: WriteProvenance,
        storage_metadata: Mapping[str, Any] | None = None,
        body: bytes | None = None,
    ) -> StageStorageResult:
        """Store one output message under its own id, with a `stage_output` sidecar.

        Custom sidecar fields are the configured `metadata_fields` read from `payload`, then
        `storage_metadata` (the adapter's `AdapterResult.storage_metadata`).

        Args:
            payload: The output payload.
            provenance: Message and invocation of the output.
            storage_metadata: Extra sidecar fields from the adapter.
            body: The canonical JSON of `payload`, when the caller already has it.
        """
        key = self.output_key(provenance.correlation_id)
        if not self.enabled:
            return StageStorageResult(key=key, written=False)
        custom = extract_metadata_fields(payload, self.config.metadata_fields)
        custom.update(storage_metadata or {})
        data = body if body is not None else self._backend.encode(payload)
        return await self._write("stage_output", key, data, provenance, custom, None)

    async def write_manifest(
        self,
        message_id: str,
        children: list[str],
        *,
        message_continues: bool,
        provenance: WriteProvenance,
    ) -> StageStorageResult:
        """Store the fan-out manifest `{message_id, children, message_continues}` of `message_id`."""
        key = self.manifest_key(message_id)
        if not self.enabled:
            return StageStorageResult(key=key, written=False)
        body = {"message_id": message_id, "children": list(children), "message_continues": message_continues}
        data = self._backend.encode(body)
        return await self._write("fanout_manifest", key, data, provenance, None, list(children))

    async def _write(
        self,
        kind: SidecarKind,
        key: str,
        data: bytes,
        provenance: WriteProvenance,
        custom: Mapping[str, Any] | None,
        children: list[str] | None,
    ) -> StageStorageResult:
        started = time.perf_counter()
        created_at = utc_now_rfc3339()
        checksum = bytes_checksum(data)
        sidecar = build_sidecar(
            kind=kind,
            key=key,
            content_type=JSON_CONTENT_TYPE,
            content_length=len(data),
            checksum=checksum,
            identity=self.identity,
            provenance=provenance,
            created_at=created_at,
            custom=custom,
            children=children,
        )
        await self._backoff.run(lambda: self._backend.write_bytes(key, data, sidecar), what=key)
        duration_ms = (time.perf_counter() - started) * 1000.0
        if self._on_object_created is not None:
            try:
                self._on_object_created(
                    StorageObjectCreated(
                        key=key,
                        route_id=self.identity.route_id,
                        stage=self.identity.stage,
                        adapter_name=self.identity.adapter_name,
                        correlation_id=provenance.correlation_id,
                        content_type=JSON_CONTENT_TYPE,
                        size=len(data),
                        created_at=created_at,
                    )
                )
            except Exception:  # observers never break a write
                logger.exception("storage.object.created observer failed for %r", key)
        return StageStorageResult(key=key, written=True, checksum=checksum, size=len(data), duration_ms=duration_ms)

    async def read_output(self, message_id: str) -> dict[str, Any] | None:
        """The stored output of `message_id`, or None when there is none (or storage is disabled).

        Raises:
            StorageUnavailableError: storage is down.
        """
        return await self._read_object(self.output_key(message_id))

    async def read_manifest(self, message_id: str) -> dict[str, Any] | None:
        """The fan-out manifest of `message_id`, or None when there is none."""
        return await self._read_object(self.manifest_key(message_id))

    async def _read_object(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        try:
            value = await self._backend.read_json(key)
        except StorageNotFoundError:
            return None
        except ValueError:
            logger.warning("Stored object %r is not valid JSON; ignoring it", key)
            return None
        return value if isinstance(value, dict) else None

    async def exists(self, message_id: str, *, manifest: bool = False) -> bool:
        """Whether the output (or, with `manifest`, the fan-out manifest) of `message_id` is stored."""
        if not self.enabled:
            return False
        key = self.manifest_key(message_id) if manifest else self.output_key(message_id)
        return await self._backend.exists(key)
