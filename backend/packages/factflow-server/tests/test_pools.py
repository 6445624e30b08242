"""Placement of an execution's routes, and which consumers count as live workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from factflow_engine.config import ConfigSnapshot, PipelineConfigLoader
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import EngineWiring, Placement
from factflow_engine.testing import RecordedCallbacks
from factflow_infra.queue import RedisSharedState, RedisStreamsQueueProvider
from factflow_infra.storage import FilesystemStorageProvider
from factflow_infra.testing import wait_until
from factflow_infra.testing.plugin import redis_db, redis_url
from factflow_infra.workers import MemoryWorkerRegistry
from factflow_server._pools import ExecutionPromotion, PoolPlacement, live_worker_ids

__all__ = ("redis_db", "redis_url")

PIPELINE = """
version: "1.0"
name: pools
routes:
  split:
    inbound: {queue: p.in}
    adapters: [{type: passthrough}]
    outbound: [{queue: p.gpu}]
  embed:
    inbound: {queue: p.gpu, pool: POOL}
    adapters: [{type: passthrough}]
init_message: {route: split, payload: {}}
"""


SLEEPER = """
version: "1.0"
name: sleeper
routes:
  sleep:
    inbound: {queue: s.in}
    adapters: [{type: delay, config: {ms: 60000}}]
init_message: {route: sleep, payload: {}}
"""


def _snapshot(pool: str) -> ConfigSnapshot:
    return _capture(PIPELINE.replace("POOL", pool))


def _capture(text: str) -> ConfigSnapshot:
    loader = PipelineConfigLoader(ValidatingAdapterRegistry().auto_discover_and_register())
    return ConfigSnapshot.capture(
        loader.load(text),
        config_yaml=text,
        config_hash="sha256:0",
        config_version=1,
        config_name="pools",
        captured_at="2026-01-01T00:00:00Z",
        engine_version="test",
    )


def _gone_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def _register(registry: MemoryWorkerRegistry, worker_id: str, *, host: str, pid: int, pools: list[str]) -> None:
    await registry.register(worker_id=worker_id, host=host, pid=pid, pools=pools, version="test")


async def test_restarted_processes_of_this_host_are_not_live_workers() -> None:
    registry = MemoryWorkerRegistry()
    here = socket.gethostname()
    await _register(registry, "me", host=here, pid=os.getpid(), pools=["default"])
    await _register(registry, "earlier-boot", host=here, pid=os.getpid(), pools=["default"])
    await _register(registry, "crashed", host=here, pid=_gone_pid(), pools=["default"])
    await _register(registry, "elsewhere", host="another-host", pid=1, pools=["gpu"])
    live = live_worker_ids(registry, own_id="me")
    assert await live() == {"me", "elsewhere"}


async def test_an_execution_stays_local_until_a_pool_needs_a_worker() -> None:
    registry = MemoryWorkerRegistry()
    placement = PoolPlacement(local_pools=frozenset({"default"}), registry=registry, own_id="server")
    await _register(registry, "server", host="h", pid=1, pools=["default"])
    assert await placement(_snapshot("default")) == Placement()
    # A route of a pool only workers serve: the server runs the rest, counted from the queue.
    assert await placement(_snapshot("gpu")) == Placement(routes=frozenset({"split"}), shared=True)
    # A worker process of the server's own pool: shared too, so both consume the groups.
    await _register(registry, "w1", host="h", pid=2, pools=["default"])
    assert await placement(_snapshot("default")) == Placement(routes=frozenset({"split", "embed"}), shared=True)


async def test_without_a_local_worker_every_route_runs_in_workers() -> None:
    placement = PoolPlacement(local_pools=frozenset(), registry=MemoryWorkerRegistry(), own_id="server")
    assert await placement(_snapshot("default")) == Placement(routes=frozenset(), shared=True)


async def test_a_record_left_by_a_stopped_process_of_this_host_does_not_share_an_execution() -> None:
    """A server that ran just before on this host (its record still within the TTL) is no worker."""
    registry = MemoryWorkerRegistry()
    here = socket.gethostname()
    placement = PoolPlacement(local_pools=frozenset({"default"}), registry=registry, own_id="server")
    await _register(registry, "server", host=here, pid=os.getpid(), pools=["default"])
    await _register(registry, "previous-server", host=here, pid=_gone_pid(), pools=["default"])
    await _register(registry, "earlier-boot", host=here, pid=os.getpid(), pools=["default"])
    assert await placement(_snapshot("default")) == Placement()


@pytest.mark.redis
async def test_a_running_worker_of_its_pool_promotes_an_execution_running_in_process(
    redis_url: str, tmp_path: Path
) -> None:
    queue = RedisStreamsQueueProvider(redis_url, consumer="server")
    storage = FilesystemStorageProvider(tmp_path / "storage")
    await queue.connect()
    await storage.start()
    shared = RedisSharedState(queue)
    manager = EngineWiring(
        queue=queue,
        storage=storage,
        adapters=ValidatingAdapterRegistry().auto_discover_and_register(),
        shared_state=shared,
    ).build_manager()
    try:
        orchestrator = await manager.start(manager.reserve("e1"), _capture(SLEEPER), callbacks=RecordedCallbacks())
        await wait_until(lambda: orchestrator.seeded, what="the execution runs")
        registry = MemoryWorkerRegistry()
        promotion = ExecutionPromotion(manager, own_id="server")
        here = socket.gethostname()
        await _register(registry, "server", host=here, pid=os.getpid(), pools=["default"])
        await _register(registry, "previous-server", host=here, pid=_gone_pid(), pools=["default"])
        await _register(registry, "gpu-1", host="elsewhere", pid=1, pools=["gpu"])
        await _register(registry, "leaving", host="elsewhere", pid=2, pools=["default"])
        await registry.heartbeat("leaving", draining=True)
        promotion(await registry.list())
        assert orchestrator.signals.promotion is None  # none of them joins: nothing to promote
        assert not orchestrator.shared

        await _register(registry, "w1", host="elsewhere", pid=3, pools=["default"])
        records = await registry.list()

        def promoted() -> bool:
            promotion(records)  # as at every heartbeat
            return orchestrator.shared

        await wait_until(promoted, what="the execution was promoted")
        assert await shared.is_shared("e1")
        promotion(await registry.list())  # shared already: nothing more happens
    finally:
        await manager.shutdown(0)
        await queue.close()
        await storage.shutdown()
