"""Message, execution and row identifiers.

Every id is a UUID in version-7 layout, written as its canonical string. Derived ids keep the
anchor's timestamp so they sort next to it, and take their remaining bits from SHA-256 so that
re-running a fan-out or a replay yields exactly the same ids.
"""

from __future__ import annotations

import hashlib
import uuid

import uuid6

__all__ = ("derive_message_id", "new_id")

_TIMESTAMP_MASK = ((1 << 48) - 1) << 80


def new_id() -> str:
    """Return a fresh UUIDv7 as a canonical string."""
    return str(uuid6.uuid7())


def derive_message_id(anchor_id: str | uuid.UUID, *parts: str) -> str:
    """Return a deterministic UUIDv7-layout id for `anchor_id` and `parts`.

    The 48-bit timestamp comes from the anchor; version and variant bits are set as for
    UUIDv7; every other bit comes from SHA-256 over the anchor and the length-prefixed parts.
    """
    anchor = anchor_id if isinstance(anchor_id, uuid.UUID) else uuid.UUID(str(anchor_id))
    digest = hashlib.sha256(anchor.bytes)
    for part in parts:
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(4, "big"))
        digest.update(encoded)
    random_bits = int.from_bytes(digest.digest()[:16], "big")
    value = (anchor.int & _TIMESTAMP_MASK) | (random_bits & ~_TIMESTAMP_MASK & ((1 << 128) - 1))
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))
