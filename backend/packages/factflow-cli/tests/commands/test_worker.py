"""`factflow worker list|get` against a live server."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Cli

LIST_HEADERS = ["ID", "STATE", "POOLS", "HOST", "PID", "ROUTES", "IN FLIGHT", "HANDLED", "HEARTBEAT", "VERSION"]


def local_worker(ff: Cli) -> dict[str, Any]:
    [worker] = ff.json("worker", "list")["workers"]
    return dict(worker)


def test_list_shows_the_local_worker(ff: Cli) -> None:
    body = ff.json("worker", "list")
    [worker] = body["workers"]
    assert (worker["state"], worker["pools"], worker["pid"], worker["local"]) == (
        "running",
        ["default"],
        os.getpid(),
        True,
    )
    [row] = ff.table_rows(ff.table("worker", "list").stdout, LIST_HEADERS)
    assert row["ID"] == f"{worker['id']} (local)"
    assert (row["STATE"], row["POOLS"], row["PID"], row["ROUTES"]) == ("running", "default", str(os.getpid()), "0")
    assert row["HEARTBEAT"].endswith("s ago")


def test_get_shows_one_worker_and_its_routes(ff: Cli) -> None:
    execution = ff.start(ff.store(ff.slow_yaml("worker_sleeper")))
    worker_id = local_worker(ff)["id"]
    try:
        ff.wait_for(lambda: len(local_worker(ff)["routes"]) == 1, what="the local worker's heartbeat lists the route")
        info = ff.json("worker", "get", worker_id)
        assert info["id"] == worker_id
        assert info["routes"] == [{"execution_id": execution["id"], "route_id": "worker_sleeper"}]
        text = ff.table("worker", "get", worker_id).stdout
        assert f"ID         {worker_id} (local)" in text
        assert "POOLS      default" in text
        [route] = ff.table_rows(text, ["EXECUTION", "ROUTE"])
        assert route == {"EXECUTION": execution["id"], "ROUTE": "worker_sleeper"}
        # The execution's routes table shows who runs each route.
        [row] = ff.table_rows(
            ff.table("execution", "routes", execution["id"]).stdout,
            [
                "ROUTE",
                "STATE",
                "PAUSED",
                "QUEUE",
                "POOL",
                "WORKERS",
                "IN FLIGHT",
                "DEPTH",
                "CONCURRENCY",
                "COMPLETED",
                "FAILED",
            ],
        )
        assert (row["POOL"], row["WORKERS"]) == ("default", worker_id)
    finally:
        ff("execution", "cancel", execution["id"])


def test_get_unknown_worker_exits_7(ff: Cli) -> None:
    result = ff("worker", "get", "nobody:1:abc", output="table")
    assert (result.exit_code, result.stdout) == (7, "")
    assert "error: No worker with id 'nobody:1:abc'. [worker_not_found, status 404" in result.stderr
    result = ff("worker", "get", "nobody:1:abc", output="json")
    assert result.exit_code == 7
    assert '"error_code": "worker_not_found"' in result.stderr
