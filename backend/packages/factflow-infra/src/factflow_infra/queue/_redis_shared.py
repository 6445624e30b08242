"""`RedisSharedState`: what every process of an execution can read and update in Redis.

An execution whose routes run in several processes counts its messages from the streams
themselves: a consumer group's `entries-read`, `lag` and pending list change atomically with the
`XADD` (inside the deduplicating publish script) and the `XACK` (or the dead-letter move) they
describe, so one script that reads every group of the execution at once sees an exact,
consistent picture, whichever process published or acked. Nothing is added to the hot path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from factflow_protocols import QueueDepth, QueueError

if TYPE_CHECKING:
    from ._redis import RedisStreamsQueueProvider

__all__ = ("GROUP_STATE_SCRIPT", "STATE_LOST_CODE", "RedisSharedState")

GROUP_STATE_SCRIPT = """
-- KEYS[1] the execution's shared mark ('' to skip the check); KEYS[2..n+1] streams read by a group
-- (ARGV[i] names the group); KEYS[n+2..] dead-letter streams. ARGV[1..n] group names.
-- Returns {ready, pending, read} per group, then the dead-letter total; or the single value -1 when
-- the mark is gone (Redis lost its state since the execution was marked).
if KEYS[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local out = {}
local n = #ARGV
for i = 1, n do
  local stream = KEYS[i + 1]
  local ready, pending, read = 0, 0, 0
  if redis.call('EXISTS', stream) == 1 then
    local length = redis.call('XLEN', stream)
    ready = length
    for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
      local info = {}
      for j = 1, #group, 2 do info[group[j]] = group[j + 1] end
      if info['name'] == ARGV[i] then
        pending = info['pending']
        if info['entries-read'] then
          read = info['entries-read']
          ready = info['lag'] or (length - read)
        else
          -- Redis cannot say (a group created over existing entries): the lag, else every unread entry.
          ready = info['lag'] or (length - pending)
          read = length - ready
        end
      end
    end
  end
  out[#out + 1] = {ready, pending, read}
end
local dead = 0
for i = n + 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then dead = dead + redis.call('XLEN', KEYS[i]) end
end
out[#out + 1] = dead
return out
"""
"""Every group's `ready`, `pending` and `entries-read`, and the DLQ lengths, in one atomic step,
provided the execution's shared mark is still there."""

STATE_LOST_CODE = "queue_state_lost"
"""`QueueError.code` of a reading that found the execution's shared mark gone (the engine's
`STATE_LOST_CODE`)."""


def _key(execution_id: str, name: str) -> str:
    # Under the execution's `factflow:{<id>}:` prefix, so purging the execution removes it too.
    return f"factflow:{{{execution_id}}}:_{name}"


class RedisSharedState:
    """The cross-process state of executions (implements the engine's `SharedExecutionState`).

    Args:
        provider: The connected Redis provider whose client it uses.
        live_workers: The ids of live workers (the membership registry); a worker that joined an
            execution and died is then not waited for when the execution's lineage is flushed.
    """

    def __init__(
        self,
        provider: RedisStreamsQueueProvider,
        *,
        live_workers: Callable[[], Awaitable[set[str]]] | None = None,
    ) -> None:
        self._provider = provider
        self._live_workers = live_workers
        self._script: Any = None

    async def read(
        self,
        groups: Sequence[tuple[str, str]],
        dead_letter_queues: Sequence[str],
        *,
        marked: str | None = None,
    ) -> tuple[list[QueueDepth], int]:
        """See `SharedExecutionState.read`."""
        mark = _key(marked, "shared") if marked is not None else ""
        keys = [mark] + [queue for queue, _ in groups] + list(dead_letter_queues)
        names = [group for _, group in groups]

        async def run(client: Redis) -> Any:
            if self._script is None:
                self._script = client.register_script(GROUP_STATE_SCRIPT)
            return await self._script(keys=keys, args=names)  # EVALSHA, loading the script if needed

        reply = await self._provider._call("reading the shared state of an execution", run)
        if not isinstance(reply, list):
            raise QueueError(
                f"The shared mark of execution {marked!r} is gone: Redis lost its state", code=STATE_LOST_CODE
            )
        depths = [
            QueueDepth(ready=int(ready), pending=int(pending), settled=max(0, int(read) - int(pending)))
            for ready, pending, read in reply[:-1]
        ]
        return depths, int(reply[-1])

    async def mark_shared(self, execution_id: str) -> None:
        await self._provider._call("marking an execution shared", lambda c: c.set(_key(execution_id, "shared"), b"1"))

    async def is_shared(self, execution_id: str) -> bool:
        value = await self._provider._call(
            "reading an execution's mark", lambda c: c.exists(_key(execution_id, "shared"))
        )
        return bool(value)

    async def joined(self, execution_id: str, worker_id: str) -> None:
        await self._provider._call(
            "joining an execution", lambda c: c.sadd(_key(execution_id, "workers"), worker_id.encode())
        )

    async def request_flush(self, execution_id: str) -> None:
        async def run(client: Redis) -> Any:
            pipe = client.pipeline(transaction=True)
            pipe.delete(_key(execution_id, "flushed"))
            pipe.set(_key(execution_id, "flush"), b"1")
            return await pipe.execute()

        await self._provider._call("requesting a lineage flush", run)

    async def flush_requested(self, execution_id: str) -> bool:
        value = await self._provider._call("reading a flush request", lambda c: c.exists(_key(execution_id, "flush")))
        return bool(value)

    async def flushed(self, execution_id: str, worker_id: str) -> None:
        await self._provider._call(
            "reporting a lineage flush", lambda c: c.sadd(_key(execution_id, "flushed"), worker_id.encode())
        )

    async def request_settle(self, execution_id: str, token: str) -> None:
        async def run(client: Redis) -> Any:
            pipe = client.pipeline(transaction=True)
            pipe.delete(_key(execution_id, "settled"))
            pipe.set(_key(execution_id, "settle"), token.encode())
            return await pipe.execute()

        await self._provider._call("requesting a settle after lost state", run)

    async def settle_requested(self, execution_id: str) -> str | None:
        value = await self._provider._call("reading a settle request", lambda c: c.get(_key(execution_id, "settle")))
        return value.decode() if isinstance(value, bytes) else None

    async def settled(self, execution_id: str, worker_id: str, token: str) -> None:
        await self._provider._call(
            "reporting a settle",
            lambda c: c.sadd(_key(execution_id, "settled"), f"{token}:{worker_id}".encode()),
        )

    async def unsettled_workers(self, execution_id: str, token: str) -> set[str]:
        async def run(client: Redis) -> Any:
            pipe = client.pipeline(transaction=True)
            pipe.smembers(_key(execution_id, "workers"))
            pipe.smembers(_key(execution_id, "settled"))
            return await pipe.execute()

        joined, settled = await self._provider._call("reading settles", run)
        waiting = {member.decode() for member in joined} - {
            member.decode().removeprefix(f"{token}:") for member in settled if member.decode().startswith(f"{token}:")
        }
        if waiting and self._live_workers is not None:
            waiting &= await self._live_workers()
        return waiting

    async def unflushed_workers(self, execution_id: str, *, live_only: bool = True) -> set[str]:
        async def run(client: Redis) -> Any:
            return await client.sdiff([_key(execution_id, "workers"), _key(execution_id, "flushed")])

        waiting = {member.decode() for member in await self._provider._call("reading lineage flushes", run)}
        if waiting and live_only and self._live_workers is not None:
            waiting &= await self._live_workers()
        return waiting

    async def report_stages(self, execution_id: str, reporter: str, *, completed: int, failed: int) -> None:
        """See `SharedExecutionState.report_stages`: one hash per execution, two fields per process."""

        async def run(client: Redis) -> Any:
            return await client.hset(
                _key(execution_id, "stages"), mapping={f"{reporter}|completed": completed, f"{reporter}|failed": failed}
            )

        await self._provider._call("reporting stage counts", run)

    async def reported_stages(self, execution_id: str) -> tuple[int, int]:
        reports = await self._provider._call("reading stage counts", lambda c: c.hgetall(_key(execution_id, "stages")))
        completed = failed = 0
        for field, value in reports.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            if name.endswith("|completed"):
                completed += int(value)
            elif name.endswith("|failed"):
                failed += int(value)
        return completed, failed
