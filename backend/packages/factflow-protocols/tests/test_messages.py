from __future__ import annotations

import uuid

import msgpack
import pytest

from factflow_protocols import RESERVED_METADATA_KEYS, EnvelopeControl, QueueMessage


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
    message = QueueMessage(payload={}, metadata={"hop_count": 1, "tenant": "a"})
    updated = message.with_metadata(delivery_count=3, tenant="b")
    assert updated.delivery_count == 3
    assert updated.metadata == {"tenant": "b"}
    assert updated.id == message.id
    assert message.delivery_count == 1
    assert message.metadata == {"tenant": "a"}
    again = updated.with_control(dead_letter={"reason": "x"})
    assert again.control.dead_letter == {"reason": "x"} and updated.control.dead_letter is None


def test_reserved_keys_given_as_metadata_become_control_fields() -> None:
    message = QueueMessage(
        payload={},
        metadata={"tenant": "a", "hop_count": 2, "trace_id": "t", "recovered": True, "start_at_adapter": 1},
        control=EnvelopeControl(replay_batch_id="b"),
    )
    assert message.metadata == {"tenant": "a"}
    assert message.control == EnvelopeControl(
        hop_count=2, trace_id="t", recovered=True, start_at_adapter=1, replay_batch_id="b"
    )


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
    assert decoded.metadata == {}


# What the previous version's `QueueMessage` did with the wire form, kept here verbatim in
# substance: a map whose `metadata` holds the control keys, read back with `metadata.get(...)`.
def _previous_version_reads(data: bytes) -> dict[str, object]:
    raw = msgpack.unpackb(data, raw=False)
    assert set(raw) == {"id", "parent_id", "execution_id", "route_id", "payload", "metadata", "created_at"}
    metadata = raw["metadata"]
    return {
        "delivery_count": int(metadata.get("delivery_count", 1)),
        "hop_count": int(metadata.get("hop_count", 0)),
        "start_at_adapter": int(metadata.get("start_at_adapter", 0)),
        "trace_id": metadata.get("trace_id"),
        "replay_batch_id": metadata.get("replay_batch_id"),
        "replay_source_key": metadata.get("replay_source_key"),
        "recovered": bool(metadata.get("recovered", False)),
        "dead_letter": metadata.get("dead_letter"),
        "adapter_keys": {key: value for key, value in metadata.items() if key not in RESERVED_METADATA_KEYS},
    }


def test_what_this_version_writes_the_previous_version_reads() -> None:
    control = EnvelopeControl(
        delivery_count=4,
        hop_count=2,
        start_at_adapter=1,
        trace_id="t",
        replay_batch_id="b",
        replay_source_key="executions/e/r/s/m.json",
        recovered=True,
        dead_letter={"reason": "non_retryable", "attempts": 4},
    )
    message = QueueMessage(payload={"n": 1}, metadata={"tenant": "a"}, control=control)
    assert _previous_version_reads(message.encode()) == {**control.model_dump(), "adapter_keys": {"tenant": "a"}}
    # Fields at their defaults are left out; the previous version's defaults are the same.
    plain = QueueMessage(payload={}, metadata={"tenant": "a"})
    assert msgpack.unpackb(plain.encode(), raw=False)["metadata"] == {"tenant": "a"}
    assert _previous_version_reads(plain.encode()) == {
        **EnvelopeControl().model_dump(),
        "adapter_keys": {"tenant": "a"},
    }


def test_what_the_previous_version_wrote_this_version_reads() -> None:
    previous = msgpack.packb(
        {
            "id": "0190b6c2-0000-7000-8000-000000000002",
            "parent_id": "p",
            "execution_id": "e",
            "route_id": "r",
            "payload": {"n": 1},
            "metadata": {
                "tenant": "a",
                "delivery_count": 2,
                "hop_count": 0,
                "trace_id": "t",
                "replay_batch_id": "b",
                "replay_source_key": "k",
                "start_at_adapter": 1,
                "recovered": True,
                "dead_letter": {"reason": "dead_lettered"},
            },
            "created_at": "2026-01-01T00:00:00.000000Z",
        },
        use_bin_type=True,
    )
    decoded = QueueMessage.decode(previous)
    assert decoded.metadata == {"tenant": "a"}
    assert decoded.control == EnvelopeControl(
        delivery_count=2,
        trace_id="t",
        replay_batch_id="b",
        replay_source_key="k",
        start_at_adapter=1,
        recovered=True,
        dead_letter={"reason": "dead_lettered"},
    )
    # Re-encoded, the previous version reads the same facts back.
    assert _previous_version_reads(decoded.encode()) == _previous_version_reads(previous)


def test_a_control_field_of_the_wrong_type_is_an_undecodable_envelope() -> None:
    data = msgpack.packb({"id": "x", "payload": {}, "metadata": {"hop_count": "many"}}, use_bin_type=True)
    with pytest.raises(ValueError):
        QueueMessage.decode(data)


def test_a_control_map_on_the_wire_is_ignored() -> None:
    # Only `metadata` carries control fields on the wire; a stray `control` map sets nothing.
    data = msgpack.packb({"id": "x", "payload": {}, "metadata": {}, "control": {"hop_count": 9}}, use_bin_type=True)
    assert QueueMessage.decode(data).hop_count == 0


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
