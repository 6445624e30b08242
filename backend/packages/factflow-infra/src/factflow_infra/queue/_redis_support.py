"""Lua scripts, reply parsing and error translation for the Redis Streams provider."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import (
    ClusterDownError,
    MasterDownError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from factflow_protocols import QueueError, QueueUnavailableError

__all__ = (
    "DEAD_LETTER_SCRIPT",
    "HELD_SCRIPT",
    "LEASE_SCRIPT",
    "PUBLISH_SCRIPT",
    "NoGroupError",
    "glob_escape",
    "mask_url",
    "text",
    "translate_redis_error",
)

PUBLISH_SCRIPT = """
-- KEYS[1] stream, KEYS[2] dedupe hash (only when deduplicating)
-- ARGV[1] message id, ARGV[2] envelope, ARGV[3] dedupe field, ARGV[4] '1' to skip the check,
-- ARGV[5] token of this publish (the same on every retry of one call)
if KEYS[2] then
  local token = redis.call('HGET', KEYS[2], ARGV[3])
  if token == ARGV[5] then
    return 'landed'
  end
  if token and ARGV[4] ~= '1' then
    return false
  end
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[5])
end
return redis.call('XADD', KEYS[1], '*', 'mid', ARGV[1], 'env', ARGV[2])
"""
"""Record the id in the dedupe hash and `XADD` only if it was new; nil means duplicate.

The hash keeps the token of the publish that added each id, so a retry of a call whose reply was
lost on the wire answers `landed` (it was this publish) instead of a duplicate, and is counted once.
"""

DEAD_LETTER_SCRIPT = """
-- KEYS[1] source stream, KEYS[2] dead-letter stream
-- ARGV[1] group, ARGV[2] entry id, ARGV[3..] field/value pairs of the dead-letter entry
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 1 then
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
end
return acked
"""
"""`XACK` the original and, if it was still pending, `XADD` it to the DLQ: one atomic step that a
retry after a lost reply cannot repeat."""


LEASE_SCRIPT = """
-- KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids the consumer holds
-- Returns the ids now pending for another consumer (settled ones are neither renewed nor returned).
-- `unpack` expands to every value only as the last argument of a call: the XCLAIM is built as a table.
local claim = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
local lost = {}
for i = 3, #ARGV do
  local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)[1]
  if row and row[2] == ARGV[2] then
    claim[#claim + 1] = ARGV[i]
  elseif row then
    lost[#lost + 1] = ARGV[i]
  end
end
if #claim > 5 then
  claim[#claim + 1] = 'JUSTID'
  redis.call(unpack(claim))
end
return lost
"""
"""Renew the lease (idle time back to 0, delivery count unchanged) on the entries still pending for
the consumer; return those another consumer holds now. A bare `XCLAIM` would take back an entry
that another consumer claimed while this one was cut off from Redis past its lease, and both would
run it, each renewing it from the other."""


HELD_SCRIPT = """
-- KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3] entry id
local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)[1]
if row and row[2] == ARGV[2] then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
  return 1
end
return 0
"""
"""1 if the entry is still pending for the consumer (its lease renewed on the way), else 0: another
consumer claimed it, or it was settled."""


class NoGroupError(QueueError):
    """The stream or its consumer group is gone (`NOGROUP`): state was lost or purged."""

    default_code = "queue_state_lost"


_UNAVAILABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,  # includes BusyLoadingError and AuthenticationError
    RedisTimeoutError,
    ReadOnlyError,  # a replica after failover: wait for the new primary
    TryAgainError,
    MasterDownError,
    ClusterDownError,
    OSError,  # includes the TimeoutError of asyncio.timeout()
)


def translate_redis_error(exc: BaseException, what: str) -> QueueError:
    """The factflow error for a redis-py (or socket) exception raised while doing `what`."""
    if isinstance(exc, _UNAVAILABLE):
        detail = str(exc) or type(exc).__name__
        return QueueUnavailableError(f"Redis is unreachable while {what}: {detail}")
    if isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP"):
        return NoGroupError(f"Queue state is gone while {what}: {exc}")
    if isinstance(exc, RedisError):
        return QueueError(f"Redis refused {what}: {exc}")
    return QueueError(f"Unexpected error while {what}: {exc!r}")


def text(value: Any) -> str:
    """A Redis reply value (bytes with `decode_responses=False`) as text."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def mask_url(url: str) -> str:
    """`url` with any password replaced by `***`, for logs and reprs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def glob_escape(prefix: str) -> str:
    """`prefix` with Redis glob metacharacters escaped, for `SCAN MATCH`."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in prefix)
