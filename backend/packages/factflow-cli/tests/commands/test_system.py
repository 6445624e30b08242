"""`factflow system health|metrics` against a live server (and an unhealthy and an absent one)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Cli

COMPONENTS = ["database", "queue", "storage", "orchestrator", "lineage", "workers"]


def test_health_json_and_table(ff: Cli) -> None:
    body = ff.json("system", "health")
    assert body["status"] == "healthy" and body["debug"] is None
    assert [item["name"] for item in body["components"]] == COMPONENTS
    text = ff.table("system", "health").stdout
    lines = text.splitlines()
    assert lines[0].startswith("STATUS healthy  VERSION ") and "  UPTIME " in lines[0]
    rows = ff.table_rows(text, ["COMPONENT", "STATUS", "LATENCY MS", "MESSAGE"])
    assert [(row["COMPONENT"], row["STATUS"]) for row in rows] == [(name, "healthy") for name in COMPONENTS]


def test_health_debug_sections(ff: Cli) -> None:
    body = ff.json("system", "health", "--debug")
    assert set(body["debug"]) >= {"settings", "queue", "orchestrator", "lineage", "storage", "database", "adapters"}
    text = "\n".join(line.rstrip() for line in ff.table("system", "health", "--debug").stdout.splitlines())
    for section in ("SETTINGS", "QUEUE", "ORCHESTRATOR", "LINEAGE", "STORAGE", "DATABASE", "ADAPTERS"):
        assert f"\n{section}\n" in text
    queue = ff.table_rows(text.split("\nQUEUE\n", 1)[1], ["FIELD", "VALUE"])
    provider = "redis" if ff.server.workers else "memory"  # worker mode runs on Redis
    assert {"FIELD": "provider", "VALUE": provider} in queue


async def _broken() -> Any:
    raise ConnectionError("connection refused")


def test_unhealthy_503_is_rendered_like_200_and_exits_1(ff: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection into the live server: its storage probe fails, so health answers 503.
    monkeypatch.setitem(ff.server.app.state.runtime.container.probes, "storage", _broken)
    with ff.client() as client:
        assert client.get("/api/v1/system/health").status_code == 503
    result = ff("system", "health", output="json")
    assert result.exit_code == 1 and result.stderr == ""
    body = json.loads(result.stdout)
    assert body["status"] == "unhealthy"
    storage = next(item for item in body["components"] if item["name"] == "storage")
    assert (storage["status"], storage["message"]) == ("unhealthy", "ConnectionError: connection refused")
    table = ff("system", "health", output="table")
    assert table.exit_code == 1
    assert table.stdout.startswith("STATUS unhealthy  VERSION ")
    rows = ff.table_rows(table.stdout, ["COMPONENT", "STATUS", "LATENCY MS", "MESSAGE"])
    assert {"COMPONENT": "storage", "STATUS": "unhealthy"}.items() <= rows[2].items()


def test_degraded_exits_1(ff: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ff.server.app.state.runtime.container.probes, "lineage", _broken)
    result = ff("system", "health", output="json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "degraded"


def test_health_unreachable_exits_6(ff: Cli, closed_port_url: str) -> None:
    result = ff("--server", closed_port_url, "system", "health", output="table")
    assert (result.exit_code, result.stdout) == (6, "")
    assert result.stderr.startswith("error: cannot reach the factflow server")


def test_metrics(ff: Cli) -> None:
    ff.finish(ff.split_yaml("symetrics"))
    body = ff.json("system", "metrics")
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
    assert body["executions"]["completed_total"] >= 1
    text = ff.table("system", "metrics").stdout
    assert "│ UPTIME " in text
    for section in ("EXECUTIONS", "MESSAGES", "ROUTES", "LINEAGE", "STORAGE", "WORKERS"):
        assert f"╭─ {section} " in text
    workers = max(1, len(ff.server.workers))  # the local worker, or the worker processes
    assert f"│ live_by_pool  default {workers}" in text
    rows = ff.table_rows(text, ["WORKER", "STATE", "POOLS", "IN FLIGHT", "HANDLED", "HEARTBEAT AGE S"])
    assert sorted((row["WORKER"], row["STATE"], row["POOLS"]) for row in rows) == sorted(
        (worker["id"], "running", "default") for worker in body["workers"]["workers"]
    )
    assert len(rows) == workers
    assert f"│ completed_total    {body['executions']['completed_total']}" in text
