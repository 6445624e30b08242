"""Workers W1/W2, and what membership adds to routes, health and metrics: real servers, real registries."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from factflow_infra.testing._queue import redis_db, redis_url
from factflow_infra.workers import RedisWorkerRegistry, WorkerRoute
from factflow_server.testing import RunningServer, assert_error, run_config, store_config

__all__ = ("redis_db", "redis_url")

GPU_YAML = """\
version: "1.0"
name: gpu-pipeline
orchestrator: {cancel_grace_seconds: 0}
routes:
  prepare:
    inbound: {queue: gpu.in}
    adapters:
      - type: delay
        config: {ms: 60000}
  embed:
    inbound: {queue: gpu.embed, pool: gpu}
    adapters:
      - type: passthrough
init_message:
  route: prepare
  payload: {n: 1}
"""


@pytest.fixture
def client(factflow_server: RunningServer) -> Iterator[httpx.Client]:
    with factflow_server.client() as c:
        yield c


def local_worker(client: httpx.Client) -> dict[str, Any]:
    [worker] = client.get("/api/v1/workers").json()["workers"]
    return dict(worker)


def test_an_embedded_server_lists_its_local_worker(client: httpx.Client) -> None:
    response = client.get("/api/v1/workers")
    assert response.status_code == 200
    [worker] = response.json()["workers"]
    assert set(worker) == {
        "id",
        "worker_id",
        "host",
        "pid",
        "pools",
        "version",
        "started_at",
        "last_heartbeat",
        "heartbeat_age_seconds",
        "state",
        "routes",
        "in_flight",
        "handled",
        "local",
    }
    assert worker["id"] == worker["worker_id"]
    host, pid, boot = str(worker["id"]).split(":")
    assert (worker["pid"], pid) == (os.getpid(), str(os.getpid()))
    assert (worker["pools"], worker["state"], worker["local"]) == (["default"], "running", True)
    assert str(worker["started_at"]).endswith("Z") and str(worker["last_heartbeat"]).endswith("Z")
    assert worker["started_at"] <= worker["last_heartbeat"]

    one = client.get(f"/api/v1/workers/{worker['id']}")
    assert one.status_code == 200
    assert one.json()["id"] == worker["id"] and one.json()["host"] == worker["host"]


def test_an_unknown_worker_is_worker_not_found(client: httpx.Client) -> None:
    body = assert_error(client.get("/api/v1/workers/nobody:1:abc"), 404, "worker_not_found")
    assert "nobody:1:abc" in body["detail"]
    assert body["context"] == {"worker_id": "nobody:1:abc"}


def test_the_local_worker_heartbeats_what_it_runs(client: httpx.Client, slow_yaml: str) -> None:
    execution = run_config(client, store_config(client, slow_yaml))
    execution_id = execution["id"]
    worker_id = local_worker(client)["id"]
    try:
        # The routes view reads the local worker's routes now; the worker list after its next heartbeat.
        routes = client.get(f"/api/v1/executions/{execution_id}/routes").json()["routes"]
        assert [(r["route_id"], r["pool"], r["workers"], r["waiting_for_worker"]) for r in routes] == [
            ("sleeper", "default", [worker_id], False)
        ]

        def listed() -> bool:
            worker = local_worker(client)
            return bool(worker["routes"] == [{"execution_id": execution_id, "route_id": "sleeper"}])

        wait_for(listed, what="the heartbeat lists the running route")
        assert local_worker(client)["in_flight"] == 1
        detail = client.get(f"/api/v1/executions/{execution_id}").json()
        assert detail["routes"][0]["workers"] == [worker_id]
    finally:
        client.post(f"/api/v1/executions/{execution_id}/cancel")
    wait_for(lambda: local_worker(client)["routes"] == [], what="the cancelled route leaves the heartbeat")


def test_a_route_whose_pool_has_no_worker_waits_and_degrades_health(
    factflow_server_factory: Callable[..., RunningServer],
) -> None:
    server = factflow_server_factory()
    with server.client() as client:
        execution_id = run_config(client, store_config(client, GPU_YAML))["id"]
        try:
            routes = {
                r["route_id"]: r for r in client.get(f"/api/v1/executions/{execution_id}/routes").json()["routes"]
            }
            assert (routes["prepare"]["pool"], routes["prepare"]["waiting_for_worker"]) == ("default", False)
            assert (routes["embed"]["pool"], routes["embed"]["waiting_for_worker"]) == ("gpu", True)
            assert routes["embed"]["workers"] == []

            health = client.get("/api/v1/system/health")
            assert health.status_code == 200
            assert health.json()["status"] == "degraded"
            workers = component(health.json(), "workers")
            assert workers["status"] == "degraded"
            assert "pool 'gpu' has no live worker (1 route of 1 running execution wait)" == workers["message"]
            # A pool running executions need shows 0 live workers, for alerting.
            assert client.get("/api/v1/system/metrics").json()["workers"]["live_by_pool"] == {"default": 1, "gpu": 0}
            assert 'factflow_workers_live{pool="gpu"} 0.0' in client.get("/metrics").text
        finally:
            client.post(f"/api/v1/executions/{execution_id}/cancel")
        wait_for(lambda: component(client.get("/api/v1/system/health").json(), "workers")["status"] == "healthy")


@pytest.mark.redis
def test_workers_of_other_processes_serve_pools_and_die_without_heartbeats(
    redis_url: str, factflow_server_factory: Callable[..., RunningServer]
) -> None:
    import asyncio

    server = factflow_server_factory(queue_url=redis_url, worker_ttl_seconds=1.5)
    with server.client() as client:
        local_id = local_worker(client)["id"]
        # One identity: the local worker is the server's consumer in every consumer group.
        assert local_id == server.app.state.runtime.container.backends.queue.consumer_name
        execution_id = run_config(client, store_config(client, GPU_YAML))["id"]
        gpu_worker = "gpu-box:77:feed"

        async def join_and_beat() -> None:
            # Another process: its own registry client on the same Redis, a `gpu` worker running `embed`.
            registry = RedisWorkerRegistry.from_url(redis_url)
            try:
                await registry.register(worker_id=gpu_worker, host="gpu-box", pid=77, pools=["gpu"], version="9.9.9")
                await registry.heartbeat(
                    gpu_worker, routes=[WorkerRoute(execution_id, "embed")], in_flight=2, handled=5
                )
            finally:
                await registry.close()

        try:
            asyncio.run(join_and_beat())
            workers = client.get("/api/v1/workers").json()["workers"]
            assert [(w["id"], w["pools"], w["local"]) for w in workers] == sorted(
                [(gpu_worker, ["gpu"], False), (local_id, ["default"], True)]
            )
            remote = client.get(f"/api/v1/workers/{gpu_worker}").json()
            assert (remote["host"], remote["pid"], remote["version"]) == ("gpu-box", 77, "9.9.9")
            assert remote["routes"] == [{"execution_id": execution_id, "route_id": "embed"}]
            assert (remote["in_flight"], remote["handled"]) == (2, 5)
            routes = {
                r["route_id"]: r for r in client.get(f"/api/v1/executions/{execution_id}/routes").json()["routes"]
            }
            if remote["state"] == "running":  # read within the 1.5 s TTL (not guaranteed on a loaded machine)
                assert (routes["embed"]["workers"], routes["embed"]["waiting_for_worker"]) == ([gpu_worker], False)

            metrics = client.get("/metrics").text
            assert 'factflow_workers_live{pool="default"} 1.0' in metrics
            assert f'factflow_worker_heartbeat_age_seconds{{worker="{local_id}"}}' in metrics
            assert f'factflow_worker_handled_total{{worker="{local_id}"}}' in metrics

            # No more heartbeats: the gpu worker dies after the TTL and its pool waits again.
            def gpu_dead() -> bool:
                return bool(client.get(f"/api/v1/workers/{gpu_worker}").json()["state"] == "dead")

            wait_for(gpu_dead, what="the silent worker is dead")
            routes = {
                r["route_id"]: r for r in client.get(f"/api/v1/executions/{execution_id}/routes").json()["routes"]
            }
            assert (routes["embed"]["workers"], routes["embed"]["waiting_for_worker"]) == ([], True)
            assert "pool 'gpu'" in component(client.get("/api/v1/system/health").json(), "workers")["message"]
            snapshot = client.get("/api/v1/system/metrics").json()["workers"]
            assert (snapshot["live"], snapshot["dead"]) == (1, 1)
            assert snapshot["live_by_pool"] == {"default": 1, "gpu": 0}
            assert [w["id"] for w in snapshot["workers"]] == sorted([gpu_worker, local_id])
            # The local worker keeps renewing at a third of the TTL and never dies meanwhile.
            assert local_worker_state(client, local_id) == "running"
        finally:
            client.post(f"/api/v1/executions/{execution_id}/cancel")
    server.stop()
    # A graceful stop deregisters the local worker.
    remaining = asyncio.run(list_ids(redis_url))
    assert local_id not in remaining and gpu_worker in remaining


async def list_ids(url: str) -> list[str]:
    registry = RedisWorkerRegistry.from_url(url, ttl_seconds=1.5)
    try:
        return [record.worker_id for record in await registry.list()]
    finally:
        await registry.close()


def local_worker_state(client: httpx.Client, worker_id: object) -> str:
    return str(client.get(f"/api/v1/workers/{worker_id}").json()["state"])


def component(health: dict[str, Any], name: str) -> dict[str, Any]:
    components = health["components"]
    assert isinstance(components, list)
    return dict(next(item for item in components if item["name"] == name))


def wait_for(predicate: Callable[[], bool], *, within: float = 20.0, what: str = "") -> None:
    """Poll a condition the server reaches on its own (a heartbeat, a TTL) until it holds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within} s: {what}")
        time.sleep(0.05)


def test_metrics_show_workers_per_pool(client: httpx.Client) -> None:
    snapshot = client.get("/api/v1/system/metrics").json()["workers"]
    assert (snapshot["live"], snapshot["dead"], snapshot["live_by_pool"]) == (1, 0, {"default": 1})
    [worker] = snapshot["workers"]
    assert set(worker) == {"id", "pools", "state", "in_flight", "handled", "heartbeat_age_seconds"}
    text = client.get("/metrics").text
    assert 'factflow_workers_live{pool="default"} 1.0' in text
    assert f'factflow_worker_in_flight{{worker="{worker["id"]}"}}' in text


def test_workers_need_the_token(factflow_server_factory: Callable[..., RunningServer]) -> None:
    server = factflow_server_factory(api_token="s3cret")
    with server.client() as anonymous:
        assert_error(anonymous.get("/api/v1/workers"), 401, "unauthorized")
        assert_error(anonymous.get("/api/v1/workers/x"), 401, "unauthorized")
    with server.client(token="s3cret") as client:
        assert client.get("/api/v1/workers").status_code == 200


def test_embedded_mode_always_has_its_local_worker(factflow_server_factory: Callable[..., RunningServer]) -> None:
    server = factflow_server_factory(local_worker=False, worker_pools=("gpu", "io"))
    with server.client() as client:
        worker = local_worker(client)
        # The local worker runs the `default` pool; FACTFLOW_WORKER_POOLS is for worker processes.
        assert (worker["local"], worker["pools"]) == (True, ["default"])


@pytest.mark.redis
def test_production_without_a_local_worker_lists_none_and_waits(
    redis_url: str, factflow_server_factory: Callable[..., RunningServer], slow_yaml: str
) -> None:
    server = factflow_server_factory(queue_url=redis_url, embedded=False, local_worker=False)
    with server.client() as client:
        assert client.get("/api/v1/workers").json() == {"workers": []}
        execution_id = run_config(client, store_config(client, slow_yaml))["id"]
        try:
            [route] = client.get(f"/api/v1/executions/{execution_id}/routes").json()["routes"]
            assert (route["pool"], route["workers"], route["waiting_for_worker"]) == ("default", [], True)
            workers = component(client.get("/api/v1/system/health").json(), "workers")
            assert (workers["status"], workers["message"]) == (
                "degraded",
                "pool 'default' has no live worker (1 route of 1 running execution wait)",
            )
        finally:
            client.post(f"/api/v1/executions/{execution_id}/cancel")
