"""The queue envelope (`QueueMessage`) and its msgpack wire form."""

from __future__ import annotations

from typing import Any

import msgpack
from pydantic import BaseModel, ConfigDict, Field

from factflow_foundation import new_id, utc_now_rfc3339

__all__ = ("RESERVED_METADATA_KEYS", "QueueMessage", "utc_now_rfc3339")

RESERVED_METADATA_KEYS = frozenset(
    {
        "delivery_count",
        "start_at_adapter",
        "replay_batch_id",
        "replay_source_key",
        "hop_count",
        "trace_id",
        "recovered",
        "dead_letter",
    }
)


class QueueMessage(BaseModel):
    """The envelope every queue carries, encoded as msgpack.

    `id` is also the correlation id: it survives redelivery and route hops and changes only at
    fan-out and replay.
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
    payload: dict[str, Any] = Field(default_factory=dict)
    """A JSON object."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form, with reserved keys (`RESERVED_METADATA_KEYS`)."""
    created_at: str = Field(default_factory=utc_now_rfc3339)
    """RFC 3339 timestamp, UTC."""

    @property
    def delivery_count(self) -> int:
        """Deliveries so far, as stamped by the provider (1 = first delivery)."""
        return int(self.metadata.get("delivery_count", 1))

    @property
    def hop_count(self) -> int:
        """Queue hops this message made."""
        return int(self.metadata.get("hop_count", 0))

    @property
    def start_at_adapter(self) -> int:
        """Adapter index the route starts at (replay)."""
        return int(self.metadata.get("start_at_adapter", 0))

    def encode(self) -> bytes:
        """The msgpack wire form."""
        packed: bytes = msgpack.packb(
            {
                "id": self.id,
                "parent_id": self.parent_id,
                "execution_id": self.execution_id,
                "route_id": self.route_id,
                "payload": self.payload,
                "metadata": self.metadata,
                "created_at": self.created_at,
            },
            use_bin_type=True,
        )
        return packed

    @classmethod
    def decode(cls, data: bytes) -> QueueMessage:
        """Parse the msgpack wire form.

        Raises:
            ValueError: the bytes are not a valid envelope.
        """
        try:
            raw = msgpack.unpackb(data, raw=False)
        except Exception as exc:
            raise ValueError(f"undecodable envelope: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError("undecodable envelope: not a mapping")
        return cls.model_validate(raw)

    def with_metadata(self, **updates: Any) -> QueueMessage:
        """A copy whose metadata has `updates` applied."""
        return self.model_copy(update={"metadata": {**self.metadata, **updates}})
