from __future__ import annotations

import uuid

import msgpack
import pytest

from factflow_protocols import QueueMessage


def test_envelope_round_trips_through_msgpack() -> None:
    message = QueueMessage(
        parent_id="p",
        execution_id="e",
        route_id="scrape",
        payload={"url": "https://example.com", "n": [1, 2.5, None]},
        metadata={"hop_count": 2, "trace_id": "t"},
    )
    decoded = QueueMessage.decode(message.encode())
    assert decoded == message
    assert uuid.UUID(decoded.id).version == 7
    assert decoded.created_at.endswith("Z")
    assert decoded.hop_count == 2
    assert decoded.delivery_count == 1
    assert decoded.start_at_adapter == 0


def test_with_metadata_leaves_the_original_untouched() -> None:
    message = QueueMessage(payload={}, metadata={"hop_count": 1})
    updated = message.with_metadata(delivery_count=3)
    assert updated.delivery_count == 3
    assert updated.id == message.id
    assert "delivery_count" not in message.metadata


@pytest.mark.parametrize("data", [b"\xc1", msgpack.packb([1, 2]), msgpack.packb({"payload": "not a mapping"})])
def test_undecodable_envelopes_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        QueueMessage.decode(data)
