"""`factflow worker list|get` against a live server."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Cli

LIST_HEADERS = ["ID", "STATE", "POOLS", "HOST", "PID", "ROUTES", "IN FLIGHT", "HANDLED", "HEARTBEAT", "VERSION"]


def expected_workers(ff: Cli) -> list[tuple[int, bool]]:
    """`(pid, local)` of the workers that run the server's routes, in id order.

    Embedded: the server's local worker. Worker mode: the worker processes (`w1`, `w2`, ...).
    """
    if ff.server.workers:
        return [(process.process.pid, False) for process in ff.server.workers]
    return [(os.getpid(), True)]


def listed_workers(ff: Cli) -> list[dict[str, Any]]:
    return sorted(ff.json("worker", "list")["workers"], key=lambda worker: str(worker["id"]))


def test_list_shows_the_workers_running_the_routes(ff: Cli) -> None:
    workers = listed_workers(ff)
    assert [(worker["state"], worker["pools"], worker["pid"], worker["local"]) for worker in workers] == [
        ("running", ["default"], pid, local) for pid, local in expected_workers(ff)
    ]
    if ff.server.workers:
        assert [worker["id"] for worker in workers] == [f"w{n}" for n in range(1, len(ff.server.workers) + 1)]
    rows = sorted(ff.table_rows(ff.table("worker", "list").stdout, LIST_HEADERS), key=lambda row: row["ID"])
    for row, worker in zip(rows, workers, strict=True):
        assert row["ID"] == (f"{worker['id']} (local)" if worker["local"] else worker["id"])
        assert (row["STATE"], row["POOLS"], row["PID"], row["ROUTES"]) == (
            "running",
            "default",
            str(worker["pid"]),
            "0",
        )
        assert row["HEARTBEAT"].endswith("s ago")


def test_get_shows_one_worker_and_its_routes(ff: Cli) -> None:
    execution = ff.start(ff.store(ff.slow_yaml("worker_sleeper")))
    worker_ids = [str(worker["id"]) for worker in listed_workers(ff)]
    try:
        # Every worker of the pool runs the route (the worker processes all join a shared execution).
        ff.wait_for(
            lambda: all(len(worker["routes"]) == 1 for worker in listed_workers(ff)),
            what="each worker's heartbeat lists the route",
        )
        worker_id = worker_ids[0]
        info = ff.json("worker", "get", worker_id)
        assert info["id"] == worker_id
        assert info["routes"] == [{"execution_id": execution["id"], "route_id": "worker_sleeper"}]
        text = ff.table("worker", "get", worker_id).stdout
        shown = f"{worker_id} (local)" if info["local"] else worker_id
        assert f"ID         {shown}" in text
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
        assert (row["POOL"], row["WORKERS"]) == ("default", ",".join(worker_ids))
    finally:
        ff("execution", "cancel", execution["id"])


def test_get_unknown_worker_exits_7(ff: Cli) -> None:
    result = ff("worker", "get", "nobody:1:abc", output="table")
    assert (result.exit_code, result.stdout) == (7, "")
    assert "error: No worker with id 'nobody:1:abc'. [worker_not_found, status 404" in result.stderr
    result = ff("worker", "get", "nobody:1:abc", output="json")
    assert result.exit_code == 7
    assert '"error_code": "worker_not_found"' in result.stderr
