"""Checking and storing what an adapter returned (docs/concepts/routes-and-stages.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgpack

from factflow_foundation import derive_message_id
from factflow_protocols import AdapterResult

from ..storage import StorageBackendAdapter, WriteProvenance
from ._context import AdapterSlot
from ._delivery import BadOutput, Branch, Delivery
from ._stages import StageRow
from ._tasks import run_siblings

__all__ = ("CheckedOutputs", "check_result", "store_outputs")

_STORAGE_WRITE_CONCURRENCY = 16
"""Child outputs of one fan-out written at once."""

_MAYBE_NOT_JSON = re.compile(rb"[\xc4-\xc6\xca\xcb]")
"""msgpack type bytes of binary data (bin 8/16/32) and floats (float 32/64).

JSON cannot hold bytes, NaN or the infinities; msgpack can. Every such value is encoded starting
with one of these bytes, so an encoding without any of them holds none, and only an encoding with
one (a float somewhere, or the byte inside a string or integer) needs the JSON check.
"""


@dataclass(frozen=True, slots=True)
class CheckedOutputs:
    """An adapter's outputs, with their ids (and canonical JSON bodies when the stage stores them)."""

    message: dict[str, Any] | None
    """The continuing message (same id), if any."""
    children: list[tuple[str, dict[str, Any]]]
    """`(child id, payload)` of every emitted message, in emit order."""
    bodies: dict[str, bytes]
    """Canonical JSON of every output, by message id; empty when the stage stores nothing."""


def check_result(result: Any, *, message_id: str, route_id: str, slot: AdapterSlot, max_bytes: int) -> CheckedOutputs:
    """Validate a non-empty adapter result and give each child its deterministic id.

    Child `i` gets `derive_message_id(message_id, route_id, str(adapter_index), str(i))`. The
    size limit applies to the msgpack encoding the queue carries; an output must also be
    something JSON can hold (checked on the canonical JSON the stage stores, or, without storage,
    only when the encoding may hold bytes or a float).

    Raises:
        BadOutput: the result is not an `AdapterResult`, an output is not a JSON object, or an
            output is larger than `max_bytes` (dead-lettered, never retried).
    """
    if not isinstance(result, AdapterResult):
        raise BadOutput(
            "output_not_serializable",
            f"Adapter {slot.adapter_name!r} returned {type(result).__name__}, not an `AdapterResult` or None.",
        )
    bodies: dict[str, bytes] = {}
    stores = slot.storage.enabled

    def encode(output_id: str, value: Any, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise BadOutput(
                "output_not_serializable",
                f"Adapter {slot.adapter_name!r} returned a {what} that is a {type(value).__name__}, not a mapping.",
            )
        try:
            packed = msgpack.packb(value, use_bin_type=True)
            if stores:
                bodies[output_id] = StorageBackendAdapter.encode(value)
            elif _MAYBE_NOT_JSON.search(packed) is not None:
                StorageBackendAdapter.encode(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise BadOutput(
                "output_not_serializable",
                f"Adapter {slot.adapter_name!r} returned a {what} JSON cannot hold: {exc}",
            ) from exc
        if len(packed) > max_bytes:
            raise BadOutput(
                "output_too_large",
                f"Adapter {slot.adapter_name!r} returned a {what} of {len(packed)} bytes (limit {max_bytes}).",
            )
        return value

    message = None if result.message is None else encode(message_id, result.message, "message")
    children: list[tuple[str, dict[str, Any]]] = []
    for position, item in enumerate(result.emitted):
        child_id = derive_message_id(message_id, route_id, str(slot.index), str(position))
        children.append((child_id, encode(child_id, item, f"emitted[{position}]")))
    return CheckedOutputs(message=message, children=children, bodies=bodies)


async def store_outputs(
    delivery: Delivery,
    branch: Branch,
    slot: AdapterSlot,
    row: StageRow,
    result: AdapterResult,
    outputs: CheckedOutputs,
) -> str | None:
    """Store the children, then the continuing message, then the fan-out manifest.

    The manifest goes last: once it exists, every output it names exists too, which the resume
    walk relies on. Returns the row's `storage_key` (the manifest for a fan-out, else the
    output), or None when the stage stores nothing.

    Raises:
        ValueError: `storage_metadata` holds values JSON cannot express.
    """
    storage = slot.storage
    if not storage.enabled:
        return None

    def provenance(output_id: str, parent_id: str | None) -> WriteProvenance:
        return WriteProvenance(
            correlation_id=output_id,
            parent_correlation_id=parent_id,
            lineage_id=row.id,
            replay_batch_id=delivery.replay_batch_id,
            original_object_key=delivery.original_object_key,
            delivery_count=delivery.delivery_count,
        )

    children = outputs.children
    for start in range(0, len(children), _STORAGE_WRITE_CONCURRENCY):
        await run_siblings(
            (
                f"store:{slot.storage.identity.route_id}:{child_id}",
                storage.write_output(
                    child_payload,
                    provenance=provenance(child_id, branch.message_id),
                    storage_metadata=result.storage_metadata,
                    body=outputs.bodies[child_id],
                ),
            )
            for child_id, child_payload in children[start : start + _STORAGE_WRITE_CONCURRENCY]
        )
    key: str | None = None
    if outputs.message is not None:
        stored = await storage.write_output(
            outputs.message,
            provenance=provenance(branch.message_id, branch.parent_id),
            storage_metadata=result.storage_metadata,
            body=outputs.bodies[branch.message_id],
        )
        key = stored.key
    if children:
        manifest = await storage.write_manifest(
            branch.message_id,
            [child_id for child_id, _ in children],
            message_continues=outputs.message is not None,
            provenance=provenance(branch.message_id, branch.parent_id),
        )
        key = manifest.key
    return key
