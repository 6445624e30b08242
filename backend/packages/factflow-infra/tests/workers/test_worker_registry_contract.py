"""The `WorkerRegistry` contract, run against both registries (memory and Redis)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio

from factflow_infra.testing import _queue as queue_fixtures
from factflow_infra.testing._queue import wait_until
from factflow_infra.workers import (
    MemoryWorkerRegistry,
    RedisWorkerRegistry,
    WorkerRecord,
    WorkerRegistry,
    WorkerRoute,
    default_worker_id,
)

# Fixtures, found by name.
redis_db = queue_fixtures.redis_db
redis_url = queue_fixtures.redis_url

MakeRegistry = Callable[..., Awaitable[WorkerRegistry]]


@pytest.fixture(params=[pytest.param("memory"), pytest.param("redis", marks=pytest.mark.redis)])
async def make_registry(request: pytest.FixtureRequest) -> AsyncIterator[MakeRegistry]:
    """Makes registries of one back end; Redis ones share the test's own database (like processes do)."""
    made: list[WorkerRegistry] = []
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None

    async def make(**options: Any) -> WorkerRegistry:
        registry: WorkerRegistry
        if url is None:
            registry = MemoryWorkerRegistry(**options)
        else:
            registry = RedisWorkerRegistry.from_url(url, **options)
        made.append(registry)
        return registry

    try:
        yield make
    finally:
        for registry in made:
            await registry.close()


async def register(registry: WorkerRegistry, worker_id: str, *pools: str) -> None:
    await registry.register(worker_id=worker_id, host="host-a", pid=4242, pools=pools or ("default",), version="1.2.3")


async def test_a_registered_worker_is_listed_running_with_what_it_registered(make_registry: MakeRegistry) -> None:
    registry = await make_registry(ttl_seconds=60)
    before = datetime.now(UTC) - timedelta(seconds=5)
    await registry.register(worker_id="w1", host="host-a", pid=4242, pools=["gpu", "io"], version="1.2.3")

    [record] = await registry.list()
    assert record.worker_id == "w1"
    assert (record.host, record.pid, record.pools, record.version) == ("host-a", 4242, ("gpu", "io"), "1.2.3")
    assert record.state == "running"
    assert record.live
    assert (record.routes, record.in_flight, record.handled) == ((), 0, 0)
    assert record.started_at.tzinfo is not None
    assert before <= record.started_at <= record.last_heartbeat <= datetime.now(UTC) + timedelta(seconds=5)
    assert await registry.get("w1") == record


async def test_a_heartbeat_replaces_what_the_worker_reports(make_registry: MakeRegistry) -> None:
    registry = await make_registry(ttl_seconds=60)
    await register(registry, "w1")
    first = await registry.get("w1")
    assert first is not None

    routes = [WorkerRoute("exec-1", "ingest"), WorkerRoute("exec-2", "embed")]
    await registry.heartbeat("w1", routes=routes, in_flight=3, handled=17)
    record = await registry.get("w1")
    assert record is not None
    assert record.routes == tuple(routes)
    assert (record.in_flight, record.handled, record.state) == (3, 17, "running")
    assert record.started_at == first.started_at
    assert record.last_heartbeat >= first.last_heartbeat

    await registry.heartbeat("w1")
    record = await registry.get("w1")
    assert record is not None
    assert (record.routes, record.in_flight, record.handled) == ((), 0, 0)


async def test_a_draining_heartbeat_makes_the_worker_draining_and_still_live(make_registry: MakeRegistry) -> None:
    registry = await make_registry(ttl_seconds=60)
    await register(registry, "w1", "gpu")
    await registry.heartbeat("w1", draining=True, in_flight=1)

    record = await registry.get("w1")
    assert record is not None
    assert record.state == "draining"
    assert record.live
    assert await registry.live_workers_by_pool() == {"gpu": ["w1"]}


async def test_a_worker_without_heartbeats_past_the_ttl_is_dead_and_still_listed(make_registry: MakeRegistry) -> None:
    registry = await make_registry(ttl_seconds=0.3)
    await register(registry, "w1", "gpu")

    async def dead() -> bool:
        record = await registry.get("w1")
        return record is not None and record.state == "dead"

    await wait_until(dead, what="w1 dead")
    [record] = await registry.list()
    assert (record.worker_id, record.state, record.live) == ("w1", "dead", False)
    assert await registry.live_workers_by_pool() == {}

    await registry.heartbeat("w1")  # back from a pause: alive again
    record_after = await registry.get("w1")
    assert record_after is not None
    assert record_after.state in ("running", "dead")  # running unless this call itself took > 0.3 s
    assert record_after.last_heartbeat > record.last_heartbeat


async def test_a_dead_worker_is_pruned_after_the_retention(make_registry: MakeRegistry) -> None:
    registry = await make_registry(ttl_seconds=0.2, dead_retention_seconds=0.3)
    await register(registry, "gone")

    async def pruned() -> bool:
        return await registry.get("gone") is None and await registry.list() == []

    await wait_until(pruned, what="dead worker pruned")
    # A heartbeat from the same instance re-creates it from what it registered.
    await registry.heartbeat("gone", handled=5)
    record = await registry.get("gone")
    assert record is not None
    assert (record.host, record.pools, record.handled) == ("host-a", ("default",), 5)


async def test_deregister_removes_the_worker_at_once_and_is_idempotent(make_registry: MakeRegistry) -> None:
    registry = await make_registry(ttl_seconds=60)
    await register(registry, "w1")
    await register(registry, "w2")

    await registry.deregister("w1")
    await registry.deregister("w1")
    await registry.deregister("never-registered")

    assert await registry.get("w1") is None
    assert [record.worker_id for record in await registry.list()] == ["w2"]
    with pytest.raises(KeyError, match="w1"):
        await registry.heartbeat("w1")


async def test_metrics_travel_with_a_heartbeat_and_expire_with_the_ttl(make_registry: MakeRegistry) -> None:
    registry = await make_registry(ttl_seconds=0.5)
    await register(registry, "w1")
    await register(registry, "w2")
    assert await registry.metrics(["w1", "w2"]) == {}

    await registry.heartbeat("w1", metrics='[{"route_id": "r"}]')
    await registry.heartbeat("w2", metrics="first")
    await registry.heartbeat("w2")  # None keeps the last figures
    assert await registry.metrics(["w1", "w2", "unknown"]) == {"w1": '[{"route_id": "r"}]', "w2": "first"}
    assert await registry.metrics([]) == {}

    await registry.deregister("w2")
    assert await registry.metrics(["w2"]) == {}

    async def expired() -> bool:
        return await registry.metrics(["w1"]) == {}

    await wait_until(expired, what="metrics of a silent worker expired")


async def test_heartbeat_of_an_unregistered_worker_is_refused(make_registry: MakeRegistry) -> None:
    registry = await make_registry(ttl_seconds=60)
    with pytest.raises(KeyError, match="register"):
        await registry.heartbeat("stranger")
    assert await registry.list() == []


async def test_live_workers_by_pool_groups_non_dead_workers(make_registry: MakeRegistry) -> None:
    registry = await make_registry(ttl_seconds=60)
    await register(registry, "w2", "default", "gpu")
    await register(registry, "w1", "default")
    await register(registry, "w3", "io")
    await registry.heartbeat("w3", draining=True)

    assert await registry.live_workers_by_pool() == {"default": ["w1", "w2"], "gpu": ["w2"], "io": ["w3"]}
    assert [record.worker_id for record in await registry.list()] == ["w1", "w2", "w3"]


async def test_registering_again_replaces_the_record_and_restarts_it(make_registry: MakeRegistry) -> None:
    registry = await make_registry(ttl_seconds=60)
    await register(registry, "w1", "default")
    await registry.heartbeat("w1", draining=True, handled=9)
    await registry.register(worker_id="w1", host="host-b", pid=7, pools=["gpu"], version="2.0.0")

    record = await registry.get("w1")
    assert record is not None
    assert (record.host, record.pid, record.pools, record.version) == ("host-b", 7, ("gpu",), "2.0.0")
    assert (record.state, record.handled) == ("running", 0)


@pytest.mark.parametrize("worker_id", ["", "has space", "x" * 201, "new\nline"])
async def test_an_invalid_worker_id_is_refused(make_registry: MakeRegistry, worker_id: str) -> None:
    registry = await make_registry()
    with pytest.raises(ValueError, match="Invalid worker id"):
        await register(registry, worker_id)


async def test_unknown_worker_is_none(make_registry: MakeRegistry) -> None:
    registry = await make_registry()
    assert await registry.get("nobody") is None
    assert await registry.list() == []
    assert await registry.live_workers_by_pool() == {}


# ---------------------------------------------------------------------- Redis only
@pytest.mark.redis
async def test_redis_registries_of_different_processes_see_each_other(redis_url: str) -> None:
    worker = RedisWorkerRegistry.from_url(redis_url, ttl_seconds=60)
    server = RedisWorkerRegistry.from_url(redis_url, ttl_seconds=60)
    other_namespace = RedisWorkerRegistry.from_url(redis_url, ttl_seconds=60, key_prefix="other:workers")
    try:
        await worker.register(worker_id="host-b:1:abc", host="host-b", pid=1, pools=["gpu"], version="1")
        await worker.heartbeat("host-b:1:abc", routes=[WorkerRoute("e", "r")], in_flight=2, handled=3)
        records: list[WorkerRecord] = await server.list()
        seen = [(record.worker_id, record.routes, record.in_flight) for record in records]
        assert seen == [("host-b:1:abc", (WorkerRoute("e", "r"),), 2)]
        assert await other_namespace.list() == []
    finally:
        for registry in (worker, server, other_namespace):
            await registry.close()


@pytest.mark.redis
async def test_redis_registry_uses_one_namespace_of_keys(redis_url: str) -> None:
    registry = RedisWorkerRegistry.from_url(redis_url)
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await register(registry, "w1")
        await registry.heartbeat("w1", metrics="[]")
        keys = sorted(str(key) for key in await client.keys("*"))
        assert keys == [
            "{factflow:workers}:heartbeats",
            "{factflow:workers}:info",
            "{factflow:workers}:metrics:w1",
            "{factflow:workers}:status",
        ]
        await registry.deregister("w1")
        assert await client.keys("*") == []
    finally:
        await registry.close()
        await client.aclose()


@pytest.mark.redis
async def test_redis_registry_skips_a_record_it_cannot_read(redis_url: str) -> None:
    registry = RedisWorkerRegistry.from_url(redis_url, ttl_seconds=60)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await register(registry, "good")
        await register(registry, "bad")
        await client.hset("{factflow:workers}:info", "bad", "not|json")
        assert [record.worker_id for record in await registry.list()] == ["good"]
        assert await registry.get("bad") is None
    finally:
        await registry.close()
        await client.aclose()


async def test_an_unreachable_redis_is_a_queue_unavailable_error() -> None:
    from factflow_infra.testing import free_port
    from factflow_protocols import QueueUnavailableError

    registry = RedisWorkerRegistry.from_url(f"redis://127.0.0.1:{free_port()}/0", operation_timeout_seconds=2)
    try:
        with pytest.raises(QueueUnavailableError, match="Redis is unreachable while listing workers"):
            await registry.list()
        with pytest.raises(QueueUnavailableError, match="registering"):
            await register(registry, "w1")
        with pytest.raises(QueueUnavailableError):
            await registry.get("w1")
    finally:
        await registry.close()


def test_default_worker_id_is_host_pid_boot_unless_configured() -> None:
    generated = default_worker_id()
    host, pid, boot = generated.split(":")
    assert host and pid == str(os.getpid()) and re.fullmatch(r"[0-9a-f]{12}", boot)
    assert default_worker_id() != generated
    assert default_worker_id("gpu-box-1") == "gpu-box-1"
    with pytest.raises(ValueError, match="Invalid worker id"):
        default_worker_id("bad id")
