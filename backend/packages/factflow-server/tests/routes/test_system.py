from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from factflow_server.testing import RunningServer, skip_in_worker_mode

COMPONENTS = ["database", "queue", "storage", "orchestrator", "lineage", "workers"]


@pytest.fixture
def client(factflow_server: RunningServer) -> Iterator[httpx.Client]:
    with factflow_server.client() as c:
        yield c


def test_health_of_an_embedded_server(client: httpx.Client) -> None:
    response = client.get("/api/v1/system/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "version", "timestamp", "uptime_seconds", "components", "debug"}
    assert body["status"] == "healthy"
    assert body["debug"] is None
    assert [component["name"] for component in body["components"]] == COMPONENTS
    for component in body["components"]:
        assert component["status"] == "healthy", component
        assert set(component) == {"name", "status", "message", "latency_ms", "checked_at"}
        assert component["latency_ms"] < 2000
        assert component["checked_at"].endswith("Z")
    assert body["uptime_seconds"] >= 0


@skip_in_worker_mode("asserts the embedded server's memory queue and SQLite settings")
def test_health_debug_block(client: httpx.Client) -> None:
    debug = client.get("/api/v1/system/health", params={"debug": "1"}).json()["debug"]
    assert set(debug) == {"settings", "queue", "orchestrator", "lineage", "storage", "database", "adapters"}
    assert debug["settings"]["queue_url"] == "memory://"
    assert debug["settings"]["database_url"].startswith("sqlite+aiosqlite:///")
    assert debug["queue"]["provider"] == "memory" and debug["queue"]["connected"] is True
    assert debug["queue"]["health_state"] == "healthy"
    assert debug["storage"] == {"provider": "filesystem", "writable": True}
    assert debug["database"]["dialect"] == "sqlite"
    assert set(debug["lineage"]) == {"buffered", "dropped_total", "flush_failures_total", "last_flush_at"}
    assert debug["orchestrator"]["running_executions"] == []
    assert {"split", "passthrough"} <= set(debug["adapters"]["types"])
    assert debug["adapters"]["count"] == len(debug["adapters"]["types"])


def test_metrics_snapshot_shape(client: httpx.Client) -> None:
    response = client.get("/api/v1/system/metrics")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "timestamp",
        "uptime_seconds",
        "executions",
        "messages",
        "routes",
        "lineage",
        "storage",
        "workers",
    }
    assert set(body["executions"]) == {
        "running",
        "max_concurrent",
        "started_total",
        "completed_total",
        "failed_total",
        "cancelled_total",
        "interrupted_total",
    }
    assert body["executions"]["max_concurrent"] == 10
    assert set(body["messages"]) == {
        "received_total",
        "completed_total",
        "failed_total",
        "dead_lettered_total",
        "retried_total",
        "in_flight",
    }
    assert set(body["routes"]) == {"running", "paused"}
    assert set(body["lineage"]) == {"buffered", "written_total", "dropped_total"}
    assert set(body["storage"]) == {"writes_total", "write_failures_total"}
