"""`factflow execution list|get|wait|cancel|dag|stats|routes` against a live server."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Cli

FACTFLOW = str(Path(sys.executable).with_name("factflow"))


@pytest.fixture(scope="module")
def done(ff: Cli) -> dict[str, Any]:
    """A completed split execution tagged `exec-done`."""
    return ff.finish(ff.split_yaml("exdone"), tag="exec-done")


@pytest.fixture(scope="module")
def failed(ff: Cli) -> dict[str, Any]:
    """A failed execution (its only message is dead-lettered)."""
    return ff.finish(ff.failing_yaml("exfail"), tag="exec-failed")


@pytest.fixture
def running(ff: Cli) -> Iterator[dict[str, Any]]:
    """A running execution of the slow pipeline; cancelled afterwards."""
    execution = ff.start(ff.store(ff.slow_yaml("exslow")))
    yield execution
    with ff.client() as client:
        client.post(f"/api/v1/executions/{execution['id']}/cancel")
        client.post(f"/api/v1/executions/{execution['id']}/wait", json={"timeout": 30}, timeout=60)


def test_list_filters_and_pages(ff: Cli, done: dict[str, Any], failed: dict[str, Any]) -> None:
    by_config = ff.json("execution", "list", "--config", done["config_id"])
    assert [item["id"] for item in by_config["executions"]] == [done["id"]]
    assert by_config["limit"] == 20  # the CLI's default page size
    failures = ff.json("execution", "list", "--status", "failed", "--limit", "100")
    assert failed["id"] in [item["id"] for item in failures["executions"]]
    assert done["id"] not in [item["id"] for item in failures["executions"]]
    assert ff("execution", "list", "--status", "nope").exit_code == 2


def test_list_table(ff: Cli, done: dict[str, Any]) -> None:
    lines = ff.table("execution", "list", "--config", done["config_id"]).stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "CONFIG", "TAG", "SOURCE", "STARTED", "DURATION", "PARENT"]
    assert lines[1].split()[:5] == [done["id"], "completed", "exdone-split", "exec-done", "api"]
    assert lines[-1] == "showing 1–1 of 1"


def test_get_by_tag_json_and_table(ff: Cli, done: dict[str, Any]) -> None:
    detail = ff.json("execution", "get", "exec-done")
    assert detail["id"] == done["id"]
    assert detail["message_counts"]["published"] == 4
    table = ff.table("execution", "get", done["id"]).stdout
    assert f"CONFIG     {done['config_id']} (exdone-split, v1)" in table
    assert "MESSAGES   published 4, handled 4, in flight 0, dead-lettered 0" in table
    routes = table[table.index("ROUTE ") :].splitlines()
    assert routes[0].split() == [
        "ROUTE",
        "STATE",
        "PAUSED",
        "TOTAL",
        "COMPLETED",
        "FAILED",
        "IN",
        "PROGRESS",
        "AVG",
        "MS",
    ]
    assert routes[1].split()[:7] == ["exdone_intake", "stopped", "no", "4", "4", "0", "0"]


def test_get_failed_execution_exits_0_and_shows_the_error(ff: Cli, failed: dict[str, Any]) -> None:
    table = ff.table("execution", "get", "exec-failed").stdout
    assert "STATUS     failed" in table
    assert "ERROR      dead_letter_threshold_exceeded" in table


def test_get_unknown_exits_7(ff: Cli) -> None:
    result = ff("execution", "get", "no-such-tag", output="table")
    assert result.exit_code == 7
    assert result.stdout == ""
    assert "[execution_not_found, status 404, correlation " in result.stderr


def test_wait_on_completed(ff: Cli, done: dict[str, Any]) -> None:
    outcome = ff.json("execution", "wait", "exec-done")
    assert outcome["execution_id"] == done["id"]  # the tag resolved to the id
    assert (outcome["status"], outcome["completed"]) == ("completed", True)
    assert outcome["duration_ms"] > 0
    assert outcome["stats"]["stage_counts"]["completed"] == 7  # split 1, set_fields 3, passthrough 3
    table = ff.table("execution", "wait", done["id"]).stdout
    labels = [line.strip("│ ").split("  ")[0] for line in table.splitlines()[1:-1]]
    assert labels == [
        "ID",
        "STATUS",
        "DURATION",
        "PUBLISHED",
        "HANDLED",
        "DEAD-LETTERED",
        "STAGES COMPLETED",
        "STAGES FAILED",
    ]
    assert "STATUS            completed" in table


def test_wait_on_failed_exits_1(ff: Cli, failed: dict[str, Any]) -> None:
    result = ff("execution", "wait", failed["id"], output="json")
    assert result.exit_code == 1
    outcome = json.loads(result.stdout)
    assert (outcome["status"], outcome["completed"]) == ("failed", True)
    assert outcome["stats"]["message_counts"]["dead_lettered"] == 1
    assert result.stderr == ""


def test_wait_follows_a_live_execution_to_its_end(ff: Cli) -> None:
    config_id = ff.store(ff.split_yaml("exlive", sink_delay_ms=300))
    outcome = ff.json("config", "run", config_id, "--wait")
    assert (outcome["status"], outcome["completed"]) == ("completed", True)
    assert outcome["stats"]["message_counts"] == {
        "published": 4,
        "handled": 4,
        "in_flight": 0,
        "dead_lettered": 0,
        "tolerated_failures": 0,
    }


def test_wait_deadline_exits_5_and_the_execution_keeps_running(ff: Cli, running: dict[str, Any]) -> None:
    result = ff("--timeout", "1s", "execution", "wait", running["id"], output="json")
    assert result.exit_code == 5
    outcome = json.loads(result.stdout)
    assert (outcome["execution_id"], outcome["status"], outcome["completed"]) == (running["id"], "running", False)
    assert "still running after 1s" in result.stderr
    table = ff("--timeout", "500ms", "execution", "wait", running["id"], output="table")
    assert (table.exit_code, table.stdout) == (5, "")
    assert ff.json("execution", "get", running["id"])["status"] == "running"


def test_wait_on_cancelled_exits_3_and_cancel_wait_exits_0(ff: Cli, running: dict[str, Any]) -> None:
    cancel = ff("execution", "cancel", running["id"], "--reason", "test", "--wait", output="table")
    assert cancel.exit_code == 0, cancel.stderr
    lines = cancel.stdout.splitlines()
    assert lines[0] == f"Cancellation requested for {running['id']} (status: cancelling)"
    assert "STATUS            cancelled" in cancel.stdout
    waited = ff("execution", "wait", running["id"], output="json")
    assert waited.exit_code == 3
    assert json.loads(waited.stdout)["status"] == "cancelled"
    again = ff("execution", "cancel", running["id"], output="json")
    assert again.exit_code == 0  # already cancelled: a no-op
    body = json.loads(again.stdout)
    assert (body["previous_status"], body["current_status"]) == ("cancelled", "cancelled")
    assert ff.table("execution", "cancel", running["id"]).stdout == (
        f"Execution {running['id']} is cancelled (was cancelled).\n"
    )


def test_cancel_json_answer(ff: Cli, running: dict[str, Any]) -> None:
    body = ff.json("execution", "cancel", running["id"])
    assert set(body) == {"success", "execution_id", "previous_status", "current_status", "message"}
    assert (body["previous_status"], body["current_status"]) == ("running", "cancelling")


def test_cancel_wait_json_prints_only_the_wait_result(ff: Cli, running: dict[str, Any]) -> None:
    outcome = ff.json("execution", "cancel", running["id"], "--wait")
    assert (outcome["status"], outcome["completed"]) == ("cancelled", True)


def test_cancel_a_finished_execution_exits_1(ff: Cli, done: dict[str, Any]) -> None:
    result = ff("execution", "cancel", done["id"], output="table")
    assert result.exit_code == 1
    assert "[invalid_status_transition, status 400" in result.stderr
    assert ff("execution", "cancel", ff.MISSING_ID).exit_code == 7


def test_wait_unknown_and_unreachable(ff: Cli, closed_port_url: str) -> None:
    assert ff("execution", "wait", "no-such-tag").exit_code == 7
    assert ff("execution", "wait", ff.MISSING_ID).exit_code == 7
    unreachable = ff("--server", closed_port_url, "execution", "wait", "x", output="table")
    assert unreachable.exit_code == 6
    assert unreachable.stderr.startswith("error: cannot reach the factflow server")


def test_dag(ff: Cli, done: dict[str, Any]) -> None:
    graph = ff.json("execution", "dag", done["id"])
    assert [node["route_id"] for node in graph["nodes"]] == ["exdone_intake", "exdone_sink"]
    table = ff.table("execution", "dag", "exec-done").stdout
    assert "exdone_intake — exdone intake [exdone.in]  (init)" in table
    assert "exdone_sink — exdone sink [exdone.out]  (terminal)" in table
    assert "0. split (split)" in table and "1. set_fields (set_fields)" in table
    edges = table[table.index("FROM") :].splitlines()
    assert edges[0].split() == ["FROM", "TO", "QUEUE", "CONDITION"]
    assert edges[1].split() == ["exdone_intake", "exdone_sink", "exdone.out"]


def test_stats(ff: Cli, done: dict[str, Any]) -> None:
    stats = ff.json("execution", "stats", "exec-done")
    assert stats["execution_id"] == done["id"]
    assert [row["adapter_name"] for row in stats["adapters"]] == ["split", "set_fields", "passthrough"]
    lines = ff.table("execution", "stats", done["id"]).stdout.splitlines()
    assert lines[0].startswith(f"{done['id']}  completed  elapsed ")
    assert "success rate 100.0%" in lines[0] and "in flight 0" in lines[0]
    assert lines[1].split() == [
        "ROUTE",
        "ADAPTER",
        "STAGE",
        "COUNT",
        "COMPLETED",
        "FAILED",
        "IN",
        "PROGRESS",
        "SKIPPED",
        "AVG",
        "MS",
    ]
    assert lines[2].split()[:8] == ["exdone_intake", "split", "split", "1", "1", "0", "0", "0"]
    assert lines[3].split()[:8] == ["exdone_intake", "set_fields", "set_fields", "3", "3", "0", "0", "0"]


def test_routes(ff: Cli, done: dict[str, Any], running: dict[str, Any]) -> None:
    body = ff.json("execution", "routes", done["id"])
    assert [route["route_id"] for route in body["routes"]] == ["exdone_intake", "exdone_sink"]
    headers = [
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
    ]
    worker_ids = sorted(worker["id"] for worker in ff.json("worker", "list")["workers"])  # every one runs it

    def shown() -> bool:
        [route] = ff.json("execution", "routes", running["id"])["routes"]
        return bool(route["workers"] == worker_ids and route["in_flight"] == 1)

    # Worker processes join within a reconcile period; the server reads their progress from Redis.
    ff.wait_for(shown, what="the route's workers and its delivery in flight")
    rows = ff.table_rows(ff.table("execution", "routes", running["id"]).stdout, headers)
    assert rows == [
        {
            "ROUTE": "exslow",
            "STATE": "running",
            "PAUSED": "no",
            "QUEUE": "exslow.in",
            "POOL": "default",
            "WORKERS": ",".join(worker_ids),
            "IN FLIGHT": "1",
            "DEPTH": rows[0]["DEPTH"],  # the memory queue may not know it
            "CONCURRENCY": rows[0]["CONCURRENCY"],
            "COMPLETED": "0",
            "FAILED": "0",
        }
    ]
    if ff.server.workers:
        assert rows[0]["CONCURRENCY"] == ""  # the workers' limits: not known to the server
    else:
        assert re.fullmatch(r"\d+/\d+", rows[0]["CONCURRENCY"])  # current/max


def read_terminal(master: int, process: subprocess.Popen[bytes], *, until: bytes | None, timeout: float) -> bytes:
    """Read what the child wrote to its terminal until `until` appears (or, with None, until it exits)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk and process.poll() is not None:
                return seen
            seen += chunk
            if until is not None and until in seen:
                return seen
        elif until is None and process.poll() is not None:
            return seen
    pytest.fail(f"the terminal did not show {until!r} within {timeout} s; saw {seen!r}")


def test_wait_draws_a_progress_line_on_a_terminal_stderr(ff: Cli, running: dict[str, Any]) -> None:
    master, slave = os.openpty()
    started = time.monotonic()
    process = subprocess.Popen(
        [FACTFLOW, "--server", ff.server.base_url, "-o", "table", "execution", "wait", running["id"]],
        stdout=subprocess.PIPE,
        stderr=slave,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "250"},
    )
    os.close(slave)
    try:
        first = read_terminal(master, process, until=b"dead-lettered 0", timeout=30)
        line = first.decode().rsplit("\r", 1)[-1]
        assert re.fullmatch(
            r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] running 00:00:\d\d │ published 1 │ handled 0 │ in flight 1 │ dead-lettered 0\x1b\[K", line
        )
        with ff.client() as client:
            client.post(f"/api/v1/executions/{running['id']}/cancel")
        rest = read_terminal(master, process, until=None, timeout=30)
        stdout = process.communicate(timeout=30)[0].decode()
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert process.returncode == 3
    terminal = first + rest
    assert terminal.endswith(b"\r\x1b[K")  # the line is erased before the summary
    redraws = terminal.count(b"\r") - 1
    assert 1 <= redraws <= 4 * elapsed + 1, (redraws, elapsed)
    assert "STATUS            cancelled" in stdout
    assert "running 00:" not in stdout  # progress never reaches stdout
