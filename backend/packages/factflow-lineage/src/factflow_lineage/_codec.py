"""Between a `LineageRecord` (or an API id) and the compact columns of `pipeline_lineage`.

Ids are stored as UUIDs and hashes as raw bytes. A value outside those forms (an id that is not a
lowercase UUID, a hash that is not `sha256:<64 hex>`) keeps its text in the `*_text` column,
next to a stand-in UUID derived from the text, so lookups by id work the same for both and the
row reads back as written. The same stand-in is what revision 0005 computed for existing rows.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from factflow_foundation import ExecutionPathResolver
from factflow_protocols import LineageRecord, StageStatus

from ._model import PipelineLineageEntry

__all__ = (
    "RESULTS",
    "STATUS_CODES",
    "StageIdentity",
    "entry_from",
    "id_value",
    "row_values",
    "status_code",
)

STATUS_CODES: Final[dict[str, int]] = {
    StageStatus.PENDING.value: 0,
    StageStatus.PROCESSING.value: 1,
    StageStatus.COMPLETED.value: 2,
    StageStatus.FAILED.value: 3,
    StageStatus.SKIPPED.value: 4,
    StageStatus.CANCELLED.value: 5,
}
"""`stage_status` codes; revision 0005's triggers and partial index use the same numbers."""
_STATUS_NAMES: Final = {code: name for name, code in STATUS_CODES.items()}

RESULTS: Final = (None, "message", "emitted", "both", "none")
"""`metadata.result` values by their `result` code (0 is unused)."""

_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HASH: Final = re.compile(r"sha256:[0-9a-f]{64}")
_STAND_IN_PREFIX: Final = "factflow-lineage:"
_SMALL_LIMIT: Final = 10_000
"""`attempts` and `emitted_count` below this move to their smallint columns."""

_STORAGE_NONE: Final = 0
_STORAGE_OUTPUT: Final = 1
_STORAGE_MANIFEST: Final = 2
_STORAGE_LITERAL: Final = 3

StageIdentity = tuple[str, str, str, int, str]
"""`(execution_id, route_id, adapter_name, adapter_index, stage_name)`: one `pipeline_lineage_stages` row."""


def status_code(status: StageStatus | str) -> int:
    """The stored code of a status; `ValueError` for a name that is no `StageStatus`."""
    try:
        return STATUS_CODES[str(status)]
    except KeyError:
        raise ValueError(f"unknown stage status {str(status)!r}") from None


def id_value(text: str) -> uuid.UUID:
    """The `uuid` column value that stands for the text id `text` (the UUID itself, or its stand-in)."""
    if _UUID.fullmatch(text):
        return uuid.UUID(text)
    return uuid.UUID(bytes=hashlib.md5((_STAND_IN_PREFIX + text).encode(), usedforsecurity=False).digest())


def _split_id(text: str | None, uuid_text: bool) -> tuple[uuid.UUID | str | None, str | None]:
    if text is None:
        return None, None
    if _UUID.fullmatch(text):
        return (text if uuid_text else uuid.UUID(text)), None
    return id_value(text), text


def _split_hash(text: str | None) -> tuple[bytes | None, str | None]:
    if text is None:
        return None, None
    if _HASH.fullmatch(text):
        return bytes.fromhex(text[7:]), None
    return None, text


def _small(value: Any, limit: int) -> int | None:
    return value if type(value) is int and 0 <= value < limit else None


def _id_text(value: uuid.UUID | None, fallback: str | None) -> str | None:
    if fallback is not None:
        return fallback
    return None if value is None else str(value)


def _hash_text(value: bytes | None, fallback: str | None) -> str | None:
    if fallback is not None:
        return fallback
    return None if value is None else "sha256:" + bytes(value).hex()


def stage_identity(record: LineageRecord) -> StageIdentity:
    """The stage row a record belongs to."""
    return (record.execution_id, record.route_id, record.adapter_name, record.adapter_index, record.stage_name)


def row_values(record: LineageRecord, stage_key: int, *, uuid_text: bool = False) -> dict[str, Any]:
    """Column values (keyed by column name) of `record` in the compact layout, for an upsert.

    With `uuid_text`, an id that is a canonical UUID stays a string (asyncpg encodes it as a
    `uuid` directly; building a `uuid.UUID` per id was half of this function's time).
    """
    metadata = dict(record.metadata)
    attempts = _small(metadata.get("attempts"), _SMALL_LIMIT)
    result_name = metadata.get("result")
    result = RESULTS.index(result_name) if isinstance(result_name, str) and result_name in RESULTS else None
    emitted = _small(metadata.get("emitted_count"), _SMALL_LIMIT)
    for key, value in (("attempts", attempts), ("result", result), ("emitted_count", emitted)):
        if value is not None:
            del metadata[key]
    storage_key = record.storage_key
    if storage_key is None:
        kind = _STORAGE_NONE
    else:
        args = (record.execution_id, record.route_id, record.stage_name, record.correlation_id)
        if storage_key == ExecutionPathResolver.output_key(*args):
            kind = _STORAGE_OUTPUT
        elif storage_key == ExecutionPathResolver.manifest_key(*args):
            kind = _STORAGE_MANIFEST
        else:
            kind = _STORAGE_LITERAL
    values: dict[str, Any] = {
        "started_at": record.started_at,
        "completed_at": record.completed_at,
        "duration_ms": record.duration_ms,
        "stage_key": stage_key,
        "delivery_count": record.delivery_count,
        "emitted_count": emitted,
        "stage_status": status_code(record.stage_status),
        "outcome": kind | (result or 0) << 2,
        "attempts": attempts,
        "storage_key": storage_key if kind == _STORAGE_LITERAL else None,
        "error_info": record.error_info,
        "metadata": metadata or None,
    }
    for column, text in (
        ("id", record.id),
        ("correlation_id", record.correlation_id),
        ("parent_correlation_id", record.parent_correlation_id),
        ("replay_batch_id", record.replay_batch_id),
        ("batch_id", record.batch_id),
    ):
        values[column], values[f"{column}_text"] = _split_id(text, uuid_text)
    for column, text in (("input_hash", record.input_hash), ("output_hash", record.output_hash)):
        values[column], values[f"{column}_text"] = _split_hash(text)
    return values


def entry_from(row: Mapping[str, Any]) -> PipelineLineageEntry:
    """The API row from one result row of `pipeline_lineage` joined with its stage (`ENTRY_COLUMNS`)."""
    correlation_id = _id_text(row["correlation_id"], row["correlation_id_text"])
    assert correlation_id is not None  # a NOT NULL column
    kind, result = row["outcome"] & 3, row["outcome"] >> 2
    if kind in (_STORAGE_OUTPUT, _STORAGE_MANIFEST):
        args = (row["execution_id"], row["route_id"], row["stage_name"], correlation_id)
        output = ExecutionPathResolver.output_key if kind == _STORAGE_OUTPUT else ExecutionPathResolver.manifest_key
        storage_key: str | None = output(*args)
    else:
        storage_key = row["storage_key"]
    metadata = dict(row["metadata"] or {})
    if row["attempts"] is not None:
        metadata["attempts"] = row["attempts"]
    if result:
        metadata["result"] = RESULTS[result]
    if row["emitted_count"] is not None:
        metadata["emitted_count"] = row["emitted_count"]
    started_at: datetime = row["started_at"]
    return PipelineLineageEntry(
        id=str(_id_text(row["id"], row["id_text"])),
        correlation_id=correlation_id,
        parent_correlation_id=_id_text(row["parent_correlation_id"], row["parent_correlation_id_text"]),
        execution_id=row["execution_id"],
        route_id=row["route_id"],
        adapter_name=row["adapter_name"],
        adapter_index=row["adapter_index"],
        stage_name=row["stage_name"],
        stage_status=_STATUS_NAMES[row["stage_status"]],
        input_hash=_hash_text(row["input_hash"], row["input_hash_text"]),
        output_hash=_hash_text(row["output_hash"], row["output_hash_text"]),
        started_at=started_at,
        completed_at=row["completed_at"],
        duration_ms=row["duration_ms"],
        error_info=row["error_info"],
        replay_batch_id=_id_text(row["replay_batch_id"], row["replay_batch_id_text"]),
        batch_id=_id_text(row["batch_id"], row["batch_id_text"]),
        delivery_count=row["delivery_count"],
        storage_key=storage_key,
        entry_metadata=metadata,
    )
