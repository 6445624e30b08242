"""`WorkerMonitor`: the local worker's registration, heartbeat, draining and deregistration, and its reads."""

from __future__ import annotations

import socket
import subprocess
import sys

from factflow_infra.testing import free_port
from factflow_infra.workers import MemoryWorkerRegistry, RedisWorkerRegistry, WorkerRoute
from factflow_server._workers import LocalWorker, PoolWait, WorkerActivity, WorkerMonitor, describe_waits

LOCAL = LocalWorker(worker_id="srv:1:abc", pools=("default", "io"), version="1.0.0", host="srv", pid=1)


async def test_the_local_worker_lives_from_start_to_shutdown() -> None:
    registry = MemoryWorkerRegistry(ttl_seconds=60)
    activity = WorkerActivity(routes=(WorkerRoute("e1", "scrape"),), in_flight=3, handled=10)
    monitor = WorkerMonitor(registry, local_worker=LOCAL, activity=lambda: activity, interval_seconds=60)
    await monitor.start()
    record = await registry.get(LOCAL.worker_id)
    assert record is not None and (record.state, record.pools, record.routes) == ("running", ("default", "io"), ())

    await monitor.beat()
    record = await registry.get(LOCAL.worker_id)
    assert record is not None and (record.routes, record.in_flight, record.handled) == (activity.routes, 3, 10)
    assert [r.worker_id for r in monitor.cached_records()] == [LOCAL.worker_id]

    await monitor.begin_draining()
    record = await registry.get(LOCAL.worker_id)
    assert record is not None and record.state == "draining"

    await monitor.shutdown()
    await monitor.shutdown()
    assert await registry.get(LOCAL.worker_id) is None


async def test_route_workers_read_the_local_worker_now_and_others_from_their_heartbeats() -> None:
    registry = MemoryWorkerRegistry(ttl_seconds=60)
    current = [WorkerRoute("e1", "scrape")]
    monitor = WorkerMonitor(
        registry, local_worker=LOCAL, activity=lambda: WorkerActivity(routes=tuple(current)), interval_seconds=60
    )
    await monitor.start()
    await registry.register(worker_id="gpu:2:def", host="gpu", pid=2, pools=["gpu"], version="1.0.0")
    await registry.heartbeat("gpu:2:def", routes=[WorkerRoute("e1", "embed"), WorkerRoute("e2", "embed")])
    try:
        workers = await monitor.route_workers("e1")
        assert workers is not None
        assert {route: list(ids) for route, ids in workers.by_route.items()} == {
            "scrape": [LOCAL.worker_id],
            "embed": ["gpu:2:def"],
        }
        assert workers.live_pools == frozenset({"default", "io", "gpu"})
        current.clear()  # the local worker stopped the route: shown at once, before any heartbeat
        workers = await monitor.route_workers("e1")
        assert workers is not None and "scrape" not in workers.by_route
    finally:
        await monitor.shutdown()


async def test_without_a_local_worker_only_registered_workers_count() -> None:
    registry = MemoryWorkerRegistry(ttl_seconds=60)
    monitor = WorkerMonitor(registry, local_worker=None)
    await monitor.start()
    try:
        assert await monitor.records() == []
        workers = await monitor.route_workers("e1")
        assert workers is not None and workers.live_pools == frozenset()
        assert monitor.local_worker_id is None
    finally:
        await monitor.shutdown()


def _pid_of_an_ended_process() -> int:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(ended.stdout)


async def test_a_record_a_stopped_process_of_this_host_left_is_not_a_live_worker() -> None:
    """Health, metrics and the routes view agree with placement: a gone process is no worker."""
    registry = MemoryWorkerRegistry(ttl_seconds=60)
    gone_pid = _pid_of_an_ended_process()
    await registry.register(worker_id="gone", host=socket.gethostname(), pid=gone_pid, pools=["gpu"], version="1.0.0")
    await registry.heartbeat("gone", routes=[WorkerRoute("e1", "embed")])
    await registry.register(worker_id="elsewhere", host="other-host", pid=gone_pid, pools=["io"], version="1.0.0")
    monitor = WorkerMonitor(registry, local_worker=None)
    try:
        assert await monitor.live_workers_by_pool() == {"io": ["elsewhere"]}
        assert await monitor.live_pools() == frozenset({"io"})
        workers = await monitor.route_workers("e1")
        assert workers is not None and workers.by_route == {} and workers.live_pools == frozenset({"io"})
    finally:
        await monitor.shutdown()


async def test_an_unreachable_registry_means_membership_unknown() -> None:
    registry = RedisWorkerRegistry.from_url(f"redis://127.0.0.1:{free_port()}/0", operation_timeout_seconds=1)
    monitor = WorkerMonitor(registry, local_worker=LOCAL)
    try:
        assert await monitor.route_workers("e1") is None
    finally:
        await monitor.shutdown()  # deregistering fails quietly, the client is closed


def test_waits_are_described_per_pool() -> None:
    waits = [PoolWait("gpu", "e1", "embed"), PoolWait("gpu", "e2", "embed"), PoolWait("io", "e1", "fetch")]
    assert describe_waits(waits) == (
        "pool 'gpu' has no live worker (2 routes of 2 running executions wait); "
        "pool 'io' has no live worker (1 route of 1 running execution wait)"
    )
