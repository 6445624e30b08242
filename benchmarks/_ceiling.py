"""The ceiling: the same three hops as a minimal hand-written redis-py asyncio Streams relay.

No factflow code. One process, three consumer groups on three streams, as the factflow pipeline
has them:

* `fanout` reads the init entry and `XADD`s N entries to `mid` (pipelined, `batch` per round
  trip), then `XACK`s the init entry;
* `relay` reads `mid` with `XREADGROUP COUNT batch`, decodes each msgpack envelope, `XADD`s it
  re-encoded to `out` and `XACK`s the batch, all in one pipeline;
* `sink` reads `out`, decodes and `XACK`s.

Envelopes are msgpack maps shaped like factflow's, so the bytes on the wire are comparable. It
keeps none of factflow's guarantees (no dedupe, no storage, no lineage, no leases): it is what
the Redis round trips and redis-py cost on this machine, the upper bound for factflow's Redis mode.
"""

from __future__ import annotations

import asyncio
import resource
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack
from redis.asyncio import Redis

from benchmarks._timing import percentile

__all__ = ("run_ceiling",)

_BLOCK_MS = 1000
_Entries = list[tuple[bytes, dict[bytes, bytes]]]


def _envelope(message_id: str, parent_id: str | None, payload: dict[str, Any], hop: int) -> bytes:
    data: bytes = msgpack.packb(
        {
            "id": message_id,
            "parent_id": parent_id,
            "execution_id": "00000000-0000-7000-8000-000000000000",
            "route_id": "relay",
            "payload": payload,
            "metadata": {"hop_count": hop, "trace_id": "00000000-0000-7000-8000-000000000001"},
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
        use_bin_type=True,
    )
    return data


@dataclass
class _Relay:
    """The three stages over three streams of one client."""

    client: Redis
    messages: int
    batch: int
    streams: dict[str, str]
    sent: dict[tuple[str, bytes], float] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"mid": [], "out": []})
    finished: float = 0.0

    async def read(self, group: str) -> _Entries:
        reply: Any = await self.client.xreadgroup(
            group, "ceiling", {self.streams[group]: ">"}, count=self.batch, block=_BLOCK_MS
        )
        entries: _Entries = []
        for _stream, rows in reply or []:
            entries.extend(rows)
        return entries

    async def fanout(self) -> None:
        entries: _Entries = []
        while not entries:
            entries = await self.read("fanout")
        entry_id, fields = entries[0]
        init = msgpack.unpackb(fields[b"env"], raw=False)
        items = init["payload"]["items"]
        for start in range(0, len(items), self.batch):
            pipe = self.client.pipeline(transaction=False)
            now = time.perf_counter()
            for position in range(start, min(start + self.batch, len(items))):
                child_id = f"{init['id'][:24]}{position:012d}"
                self.sent[("mid", child_id.encode())] = now
                envelope = _envelope(child_id, init["id"], {"item": items[position]}, 1)
                pipe.xadd(self.streams["relay"], {"mid": child_id, "env": envelope})
            await pipe.execute()
        await self.client.xack(self.streams["fanout"], "fanout", entry_id)

    async def relay(self) -> None:
        done = 0
        while done < self.messages:
            entries = await self.read("relay")
            if not entries:
                continue
            now = time.perf_counter()
            pipe = self.client.pipeline(transaction=False)
            for _entry_id, fields in entries:
                mid = fields[b"mid"]
                self.latencies["mid"].append(now - self.sent.pop(("mid", mid), now))
                envelope = msgpack.unpackb(fields[b"env"], raw=False)
                envelope["metadata"]["hop_count"] += 1
                self.sent[("out", mid)] = time.perf_counter()
                pipe.xadd(self.streams["sink"], {"mid": mid, "env": msgpack.packb(envelope, use_bin_type=True)})
            pipe.xack(self.streams["relay"], "relay", *[entry_id for entry_id, _ in entries])
            await pipe.execute()
            done += len(entries)

    async def sink(self) -> None:
        done = 0
        while done < self.messages:
            entries = await self.read("sink")
            if not entries:
                continue
            now = time.perf_counter()
            for _entry_id, fields in entries:
                self.latencies["out"].append(now - self.sent.pop(("out", fields[b"mid"]), now))
                msgpack.unpackb(fields[b"env"], raw=False)
            await self.client.xack(self.streams["sink"], "sink", *[entry_id for entry_id, _ in entries])
            done += len(entries)
        self.finished = time.perf_counter()


async def run_ceiling(*, redis_url: str, messages: int, batch: int, time_limit: float = 600.0) -> dict[str, Any]:
    """Relay `messages` entries through the three hops; returns throughput, hop latencies and RSS."""
    client = Redis.from_url(redis_url, protocol=2, decode_responses=False)
    prefix = f"factflow-bench:{{{uuid.uuid4()}}}:"
    relay = _Relay(client, messages, batch, {"fanout": prefix + "in", "relay": prefix + "mid", "sink": prefix + "out"})
    try:
        for name, stream in relay.streams.items():
            await client.xgroup_create(stream, name, id="0", mkstream=True)
        root_id = str(uuid.uuid4())
        cpu_started = _cpu_seconds()
        started = time.perf_counter()
        init = _envelope(root_id, None, {"items": list(range(messages))}, 0)
        await client.xadd(relay.streams["fanout"], {"mid": root_id, "env": init})
        async with asyncio.timeout(time_limit), asyncio.TaskGroup() as group:
            group.create_task(relay.fanout(), name="ceiling:fanout")
            group.create_task(relay.relay(), name="ceiling:relay")
            group.create_task(relay.sink(), name="ceiling:sink")
        elapsed = relay.finished - started
        cpu = _cpu_seconds() - cpu_started
    finally:
        await client.delete(*relay.streams.values())
        await client.aclose()
    return {
        "name": "redis-py relay (ceiling)",
        "messages": messages,
        "elapsed_seconds": elapsed,
        "messages_per_second": messages / elapsed if elapsed > 0 else 0.0,
        "hop_p50_ms": {hop: _ms(percentile(samples, 0.5)) for hop, samples in relay.latencies.items()},
        "hop_p99_ms": {hop: _ms(percentile(samples, 0.99)) for hop, samples in relay.latencies.items()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_seconds": cpu,
        "status": "completed",
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0
