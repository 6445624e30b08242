"""Recovery step 5: lineage rows lost with a crashed process, written back from sidecars (docs/guides/recovery.md)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from factflow_engine.config import PipelineGlobalConfig
from factflow_foundation import ExecutionPathResolver, content_hash, derive_message_id, parse_rfc3339, utc_now
from factflow_infra.storage import ObjectEntry, StorageProvider
from factflow_protocols import LineageRecord, StageStatus, StorageNotFoundError, StorageProtocol

from ._lineage_index import LineageIndex
from ._objects import output_message_id

__all__ = ("close_interrupted_rows", "rebuild_lineage")

logger = logging.getLogger(__name__)

_MANIFEST_SUFFIX = ".fanout.json"


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return parse_rfc3339(value)
    return utc_now()


def _text(sidecar: Mapping[str, Any], name: str) -> str | None:
    value = sidecar.get(name)
    return value if isinstance(value, str) and value else None


async def _stage_keys(storage: StorageProtocol, prefix: str) -> list[str]:
    """Outputs and manifests directly under `prefix`."""
    keys: list[str] = []

    def wanted(key: str) -> bool:
        name = key[len(prefix) :]
        return output_message_id(name) is not None or (name.endswith(_MANIFEST_SUFFIX) and "/" not in name)

    if isinstance(storage, StorageProvider):
        async for entry in storage.list_entries(prefix, delimiter="/"):
            if isinstance(entry, ObjectEntry) and wanted(entry.key):
                keys.append(entry.key)
    else:
        async for key in storage.list(prefix):
            if key.startswith(prefix) and wanted(key):
                keys.append(key)
    return sorted(keys)


async def _read_json(storage: StorageProtocol, key: str) -> Any:
    try:
        return json.loads(await storage.read(key))
    except StorageNotFoundError:
        return None
    except ValueError:
        logger.warning("Stored object %r is not valid JSON", key)
        return None


@dataclass(frozen=True, slots=True)
class _Invocation:
    """The adapter invocation a group of objects came from."""

    execution_id: str
    route_id: str
    adapter_index: int
    adapter_name: str
    stage: str
    row_id: str


def _record(
    sidecar: Mapping[str, Any],
    invocation: _Invocation,
    *,
    correlation_id: str,
    storage_key: str,
    output_hash: str | None,
    result: str,
    emitted_count: int,
) -> LineageRecord:
    written = _parse_time(sidecar.get("created_at"))
    delivery = sidecar.get("delivery_count")
    return LineageRecord(
        id=invocation.row_id,
        correlation_id=correlation_id,
        parent_correlation_id=_text(sidecar, "parent_correlation_id"),
        execution_id=invocation.execution_id,
        route_id=invocation.route_id,
        adapter_name=_text(sidecar, "adapter_name") or invocation.adapter_name,
        adapter_index=invocation.adapter_index,
        stage_name=invocation.stage,
        stage_status=StageStatus.COMPLETED,
        started_at=written,
        completed_at=written,
        output_hash=output_hash,
        replay_batch_id=_text(sidecar, "replay_batch_id"),
        delivery_count=delivery if isinstance(delivery, int) and delivery > 0 else 1,
        storage_key=storage_key,
        metadata={"reconstructed": True, "result": result, "emitted_count": emitted_count},
    )


async def rebuild_lineage(
    *,
    execution_id: str,
    config: PipelineGlobalConfig,
    storage: StorageProtocol,
    index: LineageIndex,
) -> list[LineageRecord]:
    """The `completed` rows missing from lineage, rebuilt from the stored outputs' sidecars.

    Objects are grouped by the sidecar's `lineage_id` (one invocation): a group with a fan-out
    manifest is the parent's row (`result` `emitted` or `both`, `storage_key` the manifest,
    `output_hash` over the child hashes as the engine computes it); a group of one plain
    output is that message's row (`output_hash` = `content_hash` of the stored payload). A
    group of children without their manifest is an interrupted fan-out: no row is written, the
    adapter runs again. Rows already `completed` (by id, or by message and adapter) are left
    alone. Every rebuilt row has `metadata.reconstructed = true`; `index` is updated with them.

    Raises:
        StorageUnavailableError: storage is down.
    """
    rebuilt: list[LineageRecord] = []
    for route_id, route in config.routes.items():
        for adapter_index, adapter in enumerate(route.adapters):
            if not adapter.storage.enabled:
                continue
            stage = adapter.stage_name
            prefix = ExecutionPathResolver.stage_prefix(execution_id, route_id, stage)
            groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
            for key in await _stage_keys(storage, prefix):
                try:
                    sidecar = dict(await storage.read_metadata(key))
                except StorageNotFoundError:
                    continue
                if sidecar.get("execution_id") not in (None, execution_id):
                    continue
                lineage_id = _text(sidecar, "lineage_id")
                if lineage_id is None:
                    # No invocation recorded in the sidecar: one group per object, a stable row id.
                    message_id = _text(sidecar, "correlation_id") or key
                    lineage_id = derive_message_id(execution_id, "reconstructed", route_id, stage, message_id)
                groups.setdefault(lineage_id, []).append((key, sidecar))
            for row_id, members in groups.items():
                invocation = _Invocation(execution_id, route_id, adapter_index, adapter.type, stage, row_id)
                record = await _rebuild_group(storage, invocation, members=members, index=index)
                if record is not None:
                    rebuilt.append(record)
    index.add_records(rebuilt)
    return rebuilt


async def _rebuild_group(
    storage: StorageProtocol,
    invocation: _Invocation,
    *,
    members: list[tuple[str, dict[str, Any]]],
    index: LineageIndex,
) -> LineageRecord | None:
    if invocation.row_id in index.completed_ids:
        return None
    execution_id, route_id = invocation.execution_id, invocation.route_id
    adapter_index, stage = invocation.adapter_index, invocation.stage
    manifests = [(key, sidecar) for key, sidecar in members if key.endswith(_MANIFEST_SUFFIX)]
    outputs = [(key, sidecar) for key, sidecar in members if not key.endswith(_MANIFEST_SUFFIX)]
    if manifests:
        key, sidecar = manifests[0]
        message_id = _text(sidecar, "correlation_id")
        if message_id is None or (route_id, message_id, adapter_index) in index.completed_stages:
            return None
        manifest = await _read_json(storage, key)
        if not isinstance(manifest, dict) or not isinstance(manifest.get("children"), list):
            return None
        continues = bool(manifest.get("message_continues", False))
        hashes: list[str] | None = []
        for child in [*manifest["children"], *([message_id] if continues else [])]:
            body = await _read_json(
                storage, ExecutionPathResolver.output_key(execution_id, route_id, stage, str(child))
            )
            if body is None or hashes is None:
                hashes = None
                continue
            hashes.append(content_hash(body))
        return _record(
            sidecar,
            invocation,
            correlation_id=message_id,
            storage_key=key,
            output_hash=content_hash(hashes) if hashes is not None else None,
            result="both" if continues else "emitted",
            emitted_count=len(manifest["children"]),
        )
    if len(outputs) != 1:
        return None  # children of a fan-out whose manifest was never written
    key, sidecar = outputs[0]
    message_id = _text(sidecar, "correlation_id") or output_message_id(key.rsplit("/", 1)[-1])
    if message_id is None or (route_id, message_id, adapter_index) in index.completed_stages:
        return None
    if _is_first_child(message_id, _text(sidecar, "parent_correlation_id"), route_id, adapter_index):
        return None  # the only child written before the fan-out was interrupted
    body = await _read_json(storage, key)
    if body is None:
        return None
    return _record(
        sidecar,
        invocation,
        correlation_id=message_id,
        storage_key=key,
        output_hash=content_hash(body),
        result="message",
        emitted_count=0,
    )


def _is_first_child(message_id: str, parent_id: str | None, route_id: str, adapter_index: int) -> bool:
    """Whether `message_id` is child 0 of a fan-out of `parent_id` at this adapter."""
    if parent_id is None:
        return False
    try:
        return message_id == derive_message_id(parent_id, route_id, str(adapter_index), "0")
    except ValueError:  # a parent id that is not a UUID cannot have fanned out here
        return False


def close_interrupted_rows(index: LineageIndex, rebuilt: list[LineageRecord]) -> list[LineageRecord]:
    """`cancelled` states for rows a dead process left `pending` or `processing`.

    Their invocations died with the process (the message runs again under a new row), so they
    end as a graceful shutdown would have left them. Rows just rebuilt as `completed` are skipped.
    """
    done = {record.id for record in rebuilt}
    now = datetime.now(UTC)
    closed: list[LineageRecord] = []
    for entry in index.unfinished:
        if entry.id in done or entry.id in index.completed_ids:
            continue
        closed.append(
            LineageRecord(
                id=entry.id,
                correlation_id=entry.correlation_id,
                parent_correlation_id=entry.parent_correlation_id,
                execution_id=entry.execution_id,
                route_id=entry.route_id,
                adapter_name=entry.adapter_name,
                adapter_index=entry.adapter_index,
                stage_name=entry.stage_name,
                stage_status=StageStatus.CANCELLED,
                started_at=entry.started_at,
                completed_at=now,
                duration_ms=entry.duration_ms,
                input_hash=entry.input_hash,
                output_hash=entry.output_hash,
                error_info=entry.error_info,
                replay_batch_id=entry.replay_batch_id,
                batch_id=entry.batch_id,
                delivery_count=entry.delivery_count,
                storage_key=entry.storage_key,
                metadata=dict(entry.entry_metadata or {}),
            )
        )
    return closed
