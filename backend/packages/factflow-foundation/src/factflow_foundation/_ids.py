"""Message, execution and row identifiers.

Every id is a UUID in version-7 layout, written as its canonical string. Derived ids keep the
anchor's timestamp so they sort next to it, and take their remaining bits from SHA-256 so that
re-running a fan-out or a replay yields exactly the same ids.

Both functions run once or more per message, so they build the canonical string directly from
the 128-bit integer rather than through `uuid.UUID` objects.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import uuid

__all__ = ("derive_message_id", "new_id")

_TIMESTAMP_MASK = ((1 << 48) - 1) << 80
_RANDOM_MASK = ~_TIMESTAMP_MASK & ((1 << 128) - 1)
_VERSION_7 = 0x7 << 76
_VARIANT_RFC4122 = 0x2 << 62
_COUNTER_MAX = 0xFFF
_TAIL_MASK = (1 << 62) - 1
_CANONICAL = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _canonical(value: int) -> str:
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def new_id() -> str:
    """Return a fresh UUIDv7 as a canonical string; ids of one process increase strictly.

    Layout (RFC 9562, method 1): 48-bit Unix milliseconds, version, a 12-bit counter that
    starts at a random value each millisecond and counts up within it, variant, 62 random bits.
    Should one millisecond see more ids than the counter holds, the next ids borrow the
    following millisecond, so the timestamp never runs ahead by more than that.
    """
    global _last_ms, _counter
    random_bits = int.from_bytes(os.urandom(9), "big")
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            _last_ms = now_ms
            _counter = random_bits >> 62 & 0x7FF  # leave half the counter for this millisecond
        else:
            _counter += 1
            if _counter > _COUNTER_MAX:
                _last_ms += 1
                _counter = 0
        timestamp, counter = _last_ms, _counter
    return _canonical(
        (timestamp & 0xFFFF_FFFF_FFFF) << 80 | _VERSION_7 | counter << 64 | _VARIANT_RFC4122 | random_bits & _TAIL_MASK
    )


def derive_message_id(anchor_id: str | uuid.UUID, *parts: str) -> str:
    """Return a deterministic UUIDv7-layout id for `anchor_id` and `parts`.

    The 48-bit timestamp comes from the anchor; version and variant bits are set as for
    UUIDv7; every other bit comes from SHA-256 over the anchor and the length-prefixed parts.

    Raises:
        ValueError: `anchor_id` is not a UUID.
    """
    if isinstance(anchor_id, str) and _CANONICAL.fullmatch(anchor_id):
        anchor = int(anchor_id.replace("-", ""), 16)
    else:
        anchor = (anchor_id if isinstance(anchor_id, uuid.UUID) else uuid.UUID(str(anchor_id))).int
    chunks = [anchor.to_bytes(16, "big")]
    for part in parts:
        encoded = part.encode("utf-8")
        chunks.append(len(encoded).to_bytes(4, "big"))
        chunks.append(encoded)
    random_bits = int.from_bytes(hashlib.sha256(b"".join(chunks)).digest()[:16], "big")
    value = (anchor & _TIMESTAMP_MASK) | (random_bits & _RANDOM_MASK)
    value = (value & ~(0xF << 76)) | _VERSION_7
    value = (value & ~(0x3 << 62)) | _VARIANT_RFC4122
    return _canonical(value)
