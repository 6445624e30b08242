from __future__ import annotations

import uuid

from factflow_foundation import derive_message_id, new_id


def test_new_ids_are_uuid7_unique_and_sortable_by_creation() -> None:
    ids = [new_id() for _ in range(500)]
    assert all(uuid.UUID(value).version == 7 for value in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_derived_id_is_deterministic_uuid7_with_anchor_timestamp() -> None:
    anchor = new_id()
    child = derive_message_id(anchor, "route", "1", "0")
    assert child == derive_message_id(anchor, "route", "1", "0")
    parsed = uuid.UUID(child)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert child[:13] == anchor[:13]  # same 48-bit timestamp


def test_derived_ids_differ_per_part_and_are_not_ambiguous() -> None:
    anchor = new_id()
    ids = {derive_message_id(anchor, "r", "1", str(i)) for i in range(1000)}
    assert len(ids) == 1000
    # Joining parts differently must not collide: ("ab", "c") vs ("a", "bc").
    assert derive_message_id(anchor, "ab", "c") != derive_message_id(anchor, "a", "bc")
    assert derive_message_id(anchor, "x") != derive_message_id(new_id(), "x")
