"""`factflow pipeline list|metrics|pause|resume` against a live server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Cli

LIST_HEADERS = ["ROUTE", "EXECUTION", "STATE", "PAUSED", "QUEUE", "IN FLIGHT", "DEPTH", "CONCURRENCY"]


@pytest.fixture
def running(ff: Cli) -> Iterator[dict[str, Any]]:
    """A running execution of the slow pipeline (route `plslow`); cancelled afterwards."""
    execution = ff.start(ff.store(ff.slow_yaml("plslow")))
    yield execution
    ff("execution", "cancel", execution["id"], "--wait")


def test_list_running_routes(ff: Cli, running: dict[str, Any]) -> None:
    body = ff.json("pipeline", "list", "--execution", running["id"])
    assert body["total"] == 1
    route = body["routes"][0]
    assert (route["route_id"], route["execution_id"], route["execution_tag"]) == ("plslow", running["id"], None)
    # Worker processes take the message within a reconcile period; the server reads it from Redis.
    ff.wait_for(
        lambda: ff.json("pipeline", "list", "--execution", running["id"])["routes"][0]["in_flight"] == 1,
        what="the route's delivery in flight",
    )
    rows = ff.table_rows(ff.table("pipeline", "list").stdout, LIST_HEADERS)
    mine = [row for row in rows if row["EXECUTION"] == running["id"]]
    assert [(row["ROUTE"], row["STATE"], row["PAUSED"], row["QUEUE"], row["IN FLIGHT"]) for row in mine] == [
        ("plslow", "running", "no", "plslow.in", "1")
    ]
    assert ff("pipeline", "list", "--execution", "no-such-tag").exit_code == 7


def test_pause_and_resume(ff: Cli, running: dict[str, Any]) -> None:
    paused = ff.json("pipeline", "pause", "plslow", "--reason", "maintenance")
    assert (paused["status"], paused["previous_status"], paused["affected_executions"]) == (
        "paused",
        "running",
        [running["id"]],
    )
    listing = ff.json("pipeline", "list")
    assert {"plslow"} <= {item["route_id"] for item in listing["paused_routes"]}
    again = ff.table("pipeline", "pause", "plslow")
    assert again.stdout == "Route plslow already paused\n"
    resumed = ff.table("pipeline", "resume", "plslow")
    assert resumed.stdout == "Route plslow resumed (1 running executions affected)\n"
    assert ff.table("pipeline", "resume", "plslow").stdout == "Route plslow already running\n"
    text = ff.table("pipeline", "pause", "plslow").stdout
    assert text == "Route plslow paused (1 running executions affected)\n"
    ff.json("pipeline", "resume", "plslow")


def test_paused_route_without_processors_is_listed(ff: Cli) -> None:
    ff.store(ff.slow_yaml("plidle"))
    ff.json("pipeline", "pause", "plidle")
    try:
        text = ff.table("pipeline", "list").stdout
        assert text.splitlines()[-1].startswith("Paused without running processors: ")
        assert "plidle" in text.splitlines()[-1].split(": ", 1)[1].split(", ")
    finally:
        ff.json("pipeline", "resume", "plidle")


def test_pause_errors(ff: Cli) -> None:
    unknown = ff("pipeline", "pause", "no_such_route", output="json")
    assert unknown.exit_code == 7
    assert json.loads(unknown.stderr)["error"]["error_code"] == "route_not_found"
    assert ff("pipeline", "pause", "plslow", "--reason", "x" * 501).exit_code == 2  # 422


def test_metrics(ff: Cli, running: dict[str, Any]) -> None:
    ff.wait_for(lambda: ff.json("pipeline", "metrics", "plslow")["messages"]["in_flight"] == 1, what="in flight 1")
    body = ff.json("pipeline", "metrics", "plslow")
    assert (body["route_id"], body["window_seconds"]) == ("plslow", 60)
    assert [item["execution_id"] for item in body["executions"]] == [running["id"]]
    text = ff.table("pipeline", "metrics", "plslow").stdout
    for label in ("THROUGHPUT (60s)", "LATENCY P95", "RECEIVED", "DEAD LETTERED", "QUEUE DEPTH", "CONCURRENCY"):
        assert f"│ {label}" in text
    breakers = ff.table_rows(text, ["ADAPTER", "BREAKER", "FAILURES", "OPENED"])
    assert [(row["ADAPTER"], row["BREAKER"]) for row in breakers] == [("0. delay", "closed")]
    executions = ff.table_rows(text, ["EXECUTION", "RECEIVED", "COMPLETED", "FAILED", "IN FLIGHT"])
    assert [(row["EXECUTION"], row["IN FLIGHT"]) for row in executions] == [(running["id"], "1")]
    assert ff("pipeline", "metrics", "never_seen_route").exit_code == 7
