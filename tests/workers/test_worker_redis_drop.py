"""A worker whose Redis connection drops for 5 s mid-run: the execution still completes exactly.

Two `factflow-server worker` processes share the routes of one execution (the server runs none:
`--no-local-worker`); one reaches Redis through a TCP proxy that the test cuts while that worker
holds unacknowledged deliveries, for 5 s and until the other worker has claimed them. The drop
outlasts the worker TTL, so the cut worker is dead for a while. After the restore it must heartbeat
again and read new work, and the execution must end with exact counts and no completed stage run
twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis

from factflow_infra.testing import ThreadedTcpProxy, threaded_tcp_proxy
from factflow_infra.workers import RedisWorkerRegistry, WorkerRecord
from factflow_server.testing import run_config, store_config, wait_execution

from .conftest import WORKER_TTL_SECONDS, Cluster
from .test_worker_processes import SLOW, SLOW_ITEMS, _all, _completed_once, _set_paused, _wait_until_joined

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

ITEMS = 80
"""Enough `work` items (a second each, 4 at a time per worker) that work remains after the drop."""
DROP_SECONDS = 5.0
TTL_SECONDS = WORKER_TTL_SECONDS
"""Shorter than the drop: the cut worker is dead for a while and its leases lapse."""
PIPELINE = (
    SLOW.replace("POOL", "default")
    .replace(str(list(range(SLOW_ITEMS))), str(list(range(ITEMS))))
    .replace("inbound: {queue: s.done}", "inbound: {queue: s.done, concurrency: 4, prefetch: 4}")
)
"""Every route's `prefetch` is at most its concurrency: a delivery the cut worker holds is running
when the link drops."""
PREFETCHING = (
    SLOW.replace("POOL", "default")
    .replace(str(list(range(SLOW_ITEMS))), str(list(range(ITEMS))))
    .replace("concurrency: 4, prefetch: 4", "concurrency: 2, prefetch: 10")
)
"""`work` reads ahead of what it runs (10 read, 2 running), and so does `sink` (the defaults: 10 read,
1 running): most deliveries the cut worker holds are waiting for their turn when the link drops,
and its lease on them lapses while they wait. They must not run there once the other worker owns
them (docs/concepts/workers.md, leases)."""
READ_AHEAD = 7
"""Deliveries of `work` the cut worker holds at the cut in the read-ahead test: with 2 running at a
time (a second each), more than its lease's freshness lets start before they need Redis to say
whether they are still its own."""


@pytest.fixture
def proxy(redis_url: str) -> Iterator[ThreadedTcpProxy]:
    with threaded_tcp_proxy(redis_url) as started:
        yield started


def _record(redis_url: str, worker_id: str) -> WorkerRecord | None:
    async def read() -> WorkerRecord | None:
        registry = RedisWorkerRegistry.from_url(redis_url, ttl_seconds=TTL_SECONDS)
        try:
            return await registry.get(worker_id)
        finally:
            await registry.close()

    return asyncio.run(read())


def _live(redis_url: str, worker_id: str) -> bool:
    record = _record(redis_url, worker_id)
    return record is not None and record.live


def _pending_ids(redis_url: str, execution_id: str, consumer: str) -> set[bytes]:
    """Ids of the `work` group's entries `consumer` holds unacknowledged."""
    with redis.Redis.from_url(redis_url) as client:
        rows = client.xpending_range(f"factflow:{{{execution_id}}}:s.work", "work", "-", "+", 1000, consumer)
    return {row["message_id"] for row in rows}


def _wait_for(what: str, condition: Callable[[], object], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_worker_whose_redis_drops_for_5_s_resumes_and_the_execution_completes_exactly(
    cluster: Cluster, proxy: ThreadedTcpProxy, redis_url: str
) -> None:
    _drop_and_complete(cluster, proxy, redis_url, PIPELINE, held_at_least=1)


def test_deliveries_read_ahead_by_a_worker_whose_redis_drops_run_once(
    cluster: Cluster, proxy: ThreadedTcpProxy, redis_url: str
) -> None:
    _drop_and_complete(cluster, proxy, redis_url, PREFETCHING, held_at_least=READ_AHEAD)
    # Some of what it held waited past its lease, was taken by the other worker, and was left to it.
    assert "another worker took the delivery after its lease lapsed" in cluster.processes["cut"].output()


def _drop_and_complete(
    cluster: Cluster, proxy: ThreadedTcpProxy, redis_url: str, pipeline: str, *, held_at_least: int
) -> None:
    base_url = cluster.server("--no-local-worker")
    cluster.env = {**cluster.env, "FACTFLOW_QUEUE_URL": proxy.url(redis_url)}
    cluster.worker("cut", log_level="INFO")
    cluster.env = {**cluster.env, "FACTFLOW_QUEUE_URL": redis_url}
    cluster.worker("steady", log_level="INFO")
    with httpx.Client(base_url=base_url, timeout=30) as client:
        config_id = store_config(client, pipeline)
        _set_paused(client, "work", True)  # both workers run the routes before anything is handed out
        execution_id = run_config(client, config_id)["execution_id"]
        _wait_until_joined(redis_url, execution_id, "cut", "steady")
        _set_paused(client, "work", False)

        # Cut while the worker holds unacked deliveries of `work` (each takes a second).
        _wait_for(
            "the cut worker took too few deliveries",
            lambda: len(_pending_ids(redis_url, execution_id, "cut")) >= held_at_least,
        )
        held_at_cut = _pending_ids(redis_url, execution_id, "cut")
        proxy.cut()
        cut_at = time.monotonic()
        time.sleep(DROP_SECONDS)  # the outage itself, not a wait for something to happen
        # Its heartbeat is older than the TTL by now: other processes see it dead.
        lapsed = _record(redis_url, "cut")
        # The link stays down until the other worker has claimed what the cut one held (its leases
        # lapsed with the TTL), so the claim path is always the one taken.
        _wait_for(
            "the steady worker never claimed the cut worker's deliveries",
            lambda: not held_at_cut & _pending_ids(redis_url, execution_id, "cut"),
        )
        proxy.restore()

        # Back: it heartbeats again (live) and reads deliveries it did not hold before the drop.
        _wait_for("the cut worker never came back to life", lambda: _live(redis_url, "cut"))
        _wait_for(
            "the cut worker read no new delivery after the drop",
            lambda: _pending_ids(redis_url, execution_id, "cut") - held_at_cut,
        )
        result = wait_execution(client, execution_id, timeout=240)
        detail = client.get(f"/api/v1/executions/{execution_id}").json()
        rows = _all(client, f"/api/v1/executions/{execution_id}/lineage", "entries")
        sink = _all(client, "/api/v1/storage/objects", "objects", execution_id=execution_id, route_id="sink")
    finished_after = time.monotonic() - cut_at

    assert lapsed is not None and lapsed.state == "dead", lapsed
    assert result["status"] == "completed", result
    counts = detail["message_counts"]
    assert counts["published"] == counts["handled"] == 1 + 2 * ITEMS, counts
    assert counts["in_flight"] == 0
    assert counts["dead_lettered"] == 0
    per_stage = _completed_once(rows)  # a stage that completed never ran again
    assert per_stage == {
        ("fanout", "split"): 1,
        ("work", "delay"): ITEMS,
        ("work", "set_fields"): ITEMS,
        ("sink", "passthrough"): ITEMS,
    }
    assert len([entry for entry in sink if not entry["key"].endswith(".meta.json")]) == ITEMS
    assert result["stats"]["message_counts"] == counts
    assert result["stats"]["stage_counts"]["total"] == len(rows), result["stats"]
    assert finished_after < 200
