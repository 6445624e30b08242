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


def test_envelopes_of_the_previous_version_still_decode() -> None:
    # The wire form is unchanged: a map of the seven fields, written as `packb(dict)`.
    previous = msgpack.packb(
        {
            "id": "0190b6c2-0000-7000-8000-000000000001",
            "parent_id": None,
            "execution_id": "e",
            "route_id": "r",
            "payload": {"n": 1},
            "metadata": {"hop_count": 3},
            "created_at": "2026-01-01T00:00:00.000000Z",
        },
        use_bin_type=True,
    )
    decoded = QueueMessage.decode(previous)
    assert decoded.encode() == previous
    assert decoded.hop_count == 3


def test_timestamps_are_rfc3339_with_microseconds() -> None:
    import re
    from datetime import UTC, datetime

    from factflow_protocols import utc_now_rfc3339

    before = datetime.now(UTC)
    stamp = utc_now_rfc3339()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= parsed <= after
