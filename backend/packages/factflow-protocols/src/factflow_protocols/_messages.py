"""The queue envelope (`QueueMessage`), its typed control part (`EnvelopeControl`) and its msgpack wire form."""

from __future__ import annotations

from typing import Any

import msgpack
from pydantic import BaseModel, ConfigDict, Field, model_validator

from factflow_foundation import new_id, utc_now_rfc3339

from ._json import JSONObject

__all__ = ("RESERVED_METADATA_KEYS", "EnvelopeControl", "QueueMessage", "utc_now_rfc3339")


class EnvelopeControl(BaseModel):
    """What the runtime itself reads from an envelope, typed.

    On the wire these fields travel inside the envelope's `metadata` map under their own names,
    exactly where earlier versions put them, so either version reads what the other wrote: a
    field at its default is left out, and a reader takes the same default for a missing key.
    """

    model_config = ConfigDict(extra="ignore")

    delivery_count: int = 1
    """Deliveries so far, as stamped by the provider on receipt (1 = first delivery)."""
    hop_count: int = 0
    """Queue hops this message made (`max_hops`)."""
    start_at_adapter: int = 0
    """Adapter index the route starts at (replay)."""
    trace_id: str | None = None
    """Shared by every message descended from one init message."""
    replay_batch_id: str | None = None
    """The replay batch that published this message (or its ancestor)."""
    replay_source_key: str | None = None
    """The stored object a replay message was read from."""
    recovered: bool = False
    """Re-published by recovery: its stages may have run before."""
    dead_letter: JSONObject | None = None
    """On a dead-letter queue entry: why and where it failed."""

    def wire_fields(self) -> JSONObject:
        """The fields that differ from their defaults, as they go into the wire `metadata` map."""
        # Written out rather than `model_dump(exclude_defaults=True)`: this runs for every
        # publish, and the plain checks cost a tenth of it.
        fields: JSONObject = {}
        if self.delivery_count != 1:
            fields["delivery_count"] = self.delivery_count
        if self.hop_count:
            fields["hop_count"] = self.hop_count
        if self.start_at_adapter:
            fields["start_at_adapter"] = self.start_at_adapter
        if self.trace_id is not None:
            fields["trace_id"] = self.trace_id
        if self.replay_batch_id is not None:
            fields["replay_batch_id"] = self.replay_batch_id
        if self.replay_source_key is not None:
            fields["replay_source_key"] = self.replay_source_key
        if self.recovered:
            fields["recovered"] = True
        if self.dead_letter is not None:
            fields["dead_letter"] = self.dead_letter
        return fields


RESERVED_METADATA_KEYS = frozenset(EnvelopeControl.model_fields)
"""Metadata keys that are `EnvelopeControl` fields: lifted out of `metadata` into `control`."""


class QueueMessage(BaseModel):
    """The envelope every queue carries, encoded as msgpack.

    `id` is also the correlation id: it survives redelivery and route hops and changes only at
    fan-out and replay. `control` is the runtime's typed part; `metadata` is the adapters'
    free-form part. A reserved key given in `metadata` (by an envelope of an earlier version, or a
    caller) is moved to `control`.
    """

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=new_id)
    """UUIDv7 message id (= correlation id)."""
    parent_id: str | None = None
    """The message this one came from."""
    execution_id: str | None = None
    """Owning execution; stamped by the execution-scoped queue."""
    route_id: str | None = None
    """Target route; on a DLQ entry, the route that failed."""
    payload: JSONObject = Field(default_factory=dict)
    """A JSON object."""
    metadata: JSONObject = Field(default_factory=dict)
    """Free-form, carried from adapter outputs; never holds a reserved key (`RESERVED_METADATA_KEYS`)."""
    control: EnvelopeControl = Field(default_factory=EnvelopeControl)
    """Delivery and hop counts, trace and replay ids, recovery and dead-letter facts."""
    created_at: str = Field(default_factory=utc_now_rfc3339)
    """RFC 3339 timestamp, UTC."""

    @model_validator(mode="before")
    @classmethod
    def _lift_control(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        metadata = data.get("metadata")
        if not metadata or not isinstance(metadata, dict) or RESERVED_METADATA_KEYS.isdisjoint(metadata):
            return data
        lifted = {key: value for key, value in metadata.items() if key in RESERVED_METADATA_KEYS}
        given = data.get("control")
        if isinstance(given, EnvelopeControl):
            given = given.model_dump(exclude_unset=True)
        control = {**lifted, **given} if isinstance(given, dict) else lifted
        kept = {key: value for key, value in metadata.items() if key not in RESERVED_METADATA_KEYS}
        return {**data, "metadata": kept, "control": control}

    @property
    def delivery_count(self) -> int:
        """`control.delivery_count`."""
        return self.control.delivery_count

    @property
    def hop_count(self) -> int:
        """`control.hop_count`."""
        return self.control.hop_count

    @property
    def start_at_adapter(self) -> int:
        """`control.start_at_adapter`."""
        return self.control.start_at_adapter

    def wire_metadata(self) -> JSONObject:
        """The `metadata` map as it goes on the wire: the adapters' keys plus the control fields."""
        control = self.control.wire_fields()
        return {**self.metadata, **control} if control else self.metadata

    def encode(self) -> bytes:
        """The msgpack wire form.

        A map of `id`, `parent_id`, `execution_id`, `route_id`, `payload`, `metadata` (with the
        control fields, see `wire_metadata`) and `created_at`, as earlier versions wrote it.
        """
        packed: bytes = msgpack.packb(
            {
                "id": self.id,
                "parent_id": self.parent_id,
                "execution_id": self.execution_id,
                "route_id": self.route_id,
                "payload": self.payload,
                "metadata": self.wire_metadata(),
                "created_at": self.created_at,
            },
            use_bin_type=True,
        )
        return packed

    @classmethod
    def decode(cls, data: bytes) -> QueueMessage:
        """Parse the msgpack wire form (this version's or an earlier one's).

        Raises:
            ValueError: the bytes are not a valid envelope (a control field of the wrong type included).
        """
        try:
            raw = msgpack.unpackb(data, raw=False)
        except Exception as exc:
            raise ValueError(f"undecodable envelope: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError("undecodable envelope: not a mapping")
        # A `control` map is not part of the wire form: only `metadata` sets control fields. They
        # are lifted here rather than by `_lift_control`, which then returns at its first check.
        metadata = raw.get("metadata")
        control: JSONObject = {}
        if metadata and isinstance(metadata, dict):
            kept: JSONObject = {}
            for key, value in metadata.items():
                if key in RESERVED_METADATA_KEYS:
                    control[key] = value
                else:
                    kept[key] = value
            raw["metadata"] = kept
        raw["control"] = control
        return cls.model_validate(raw)

    def with_control(self, **updates: Any) -> QueueMessage:
        """A copy whose control part has `updates` applied (the original is untouched)."""
        return self.model_copy(update={"control": self.control.model_copy(update=updates)})

    def with_metadata(self, **updates: Any) -> QueueMessage:
        """A copy with `updates` applied: reserved keys to `control`, the others to `metadata`."""
        control = {key: value for key, value in updates.items() if key in RESERVED_METADATA_KEYS}
        metadata = {key: value for key, value in updates.items() if key not in RESERVED_METADATA_KEYS}
        copy = self.model_copy(update={"metadata": {**self.metadata, **metadata}}) if metadata else self.model_copy()
        return copy.with_control(**control) if control else copy
