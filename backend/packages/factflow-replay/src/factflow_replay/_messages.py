"""Replay messages: one deterministic message per stored object (docs/concepts/replay.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from factflow_foundation import derive_message_id
from factflow_protocols import EnvelopeControl, QueueMessage

from ._objects import StoredOutput, output_message_id

__all__ = ("replay_message", "replay_message_id", "replay_parent_id")


def replay_message_id(replay_batch_id: str, key: str) -> str:
    """`derive_message_id(replay_batch_id, key)`: the same id on every run of the publisher."""
    return derive_message_id(replay_batch_id, key)


def replay_parent_id(key: str, sidecar: Mapping[str, Any]) -> str | None:
    """The source message: the sidecar's `correlation_id`, else the key's file stem when it is a UUID."""
    value = sidecar.get("correlation_id")
    if isinstance(value, str) and value:
        return value
    return output_message_id(key.rsplit("/", 1)[-1])


def replay_payload(output: StoredOutput) -> dict[str, Any]:
    """The stored JSON object, or `{object_key, content_type}` when the body is not one."""
    payload = output.json_object()
    if payload is not None:
        return payload
    return {"object_key": output.key, "content_type": output.content_type}


def replay_message(
    output: StoredOutput, *, replay_batch_id: str, start_at_adapter: int, route_id: str | None = None
) -> QueueMessage:
    """The message replaying one stored object.

    Its control fields are `replay_batch_id`, `replay_source_key` and `start_at_adapter`;
    `route_id` is the target route (None until a target is chosen).
    """
    return QueueMessage(
        id=replay_message_id(replay_batch_id, output.key),
        parent_id=replay_parent_id(output.key, output.sidecar),
        route_id=route_id,
        payload=replay_payload(output),
        control=EnvelopeControl(
            replay_batch_id=replay_batch_id,
            replay_source_key=output.key,
            start_at_adapter=start_at_adapter,
        ),
    )
