"""`factflow lineage list|get|chain|children|failures|stats|batch` against a live server."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Cli

ENTRY_HEADERS = ["ID", "CORRELATION ID", "ROUTE", "ADAPTER", "STAGE", "STATUS", "STARTED", "DURATION", "ERROR"]


@pytest.fixture(scope="module")
def done(ff: Cli) -> dict[str, Any]:
    """A completed split execution with its detail (root message id) and lineage rows."""
    execution = ff.finish(ff.split_yaml("lndone"), tag="lineage-done")
    detail = ff.json("execution", "get", execution["id"])
    # Rows are written by a batched recorder; the stats settle when every row is there.
    ff.wait_for(
        lambda: ff.json("lineage", "list", "--execution", execution["id"])["total"] == 7,
        what="all 7 lineage rows",
    )
    return {**execution, "root": detail["root_correlation_id"]}


@pytest.fixture(scope="module")
def failed(ff: Cli) -> dict[str, Any]:
    execution = ff.finish(ff.failing_yaml("lnfail"))
    ff.wait_for(
        lambda: ff.json("lineage", "failures", "--execution", execution["id"])["total"] == 1, what="the failed row"
    )
    return execution


def test_list_filters(ff: Cli, done: dict[str, Any]) -> None:
    page = ff.json("lineage", "list", "--execution", "lineage-done")
    assert (page["total"], page["limit"]) == (7, 100)
    assert {entry["execution_id"] for entry in page["entries"]} == {done["id"]}
    sink = ff.json("lineage", "list", "--execution", done["id"], "--route", "lndone_sink")
    assert {entry["adapter_name"] for entry in sink["entries"]} == {"passthrough"} and sink["total"] == 3
    marked = ff.json("lineage", "list", "--execution", done["id"], "--adapter", "set_fields", "--status", "completed")
    assert marked["total"] == 3
    assert ff.json("lineage", "list", "--execution", done["id"], "--stage", "split")["total"] == 1
    assert ff.json("lineage", "list", "--execution", done["id"], "--status", "failed")["total"] == 0
    assert ff("lineage", "list", "--execution", done["id"], "--status", "nope").exit_code == 2
    assert ff("lineage", "list", "--execution", "no-such-tag").exit_code == 7


def test_list_table(ff: Cli, done: dict[str, Any]) -> None:
    text = ff.table("lineage", "list", "--execution", done["id"], "--limit", "2", "--offset", "1").stdout
    rows = ff.table_rows(text, ENTRY_HEADERS)
    page = ff.json("lineage", "list", "--execution", done["id"], "--limit", "2", "--offset", "1")
    assert [row["ID"] for row in rows] == [entry["id"] for entry in page["entries"]]
    assert all(row["STATUS"] == "completed" and row["DURATION"].endswith("s") for row in rows)
    assert text.splitlines()[-1] == "showing 2–3 of 7 (next: --offset 3)"


def test_get_by_message_id_and_row_id(ff: Cli, done: dict[str, Any]) -> None:
    message = ff.json("lineage", "get", done["root"])
    assert (message["correlation_id"], message["requested_entry_id"]) == (done["root"], None)
    row_id = message["entries"][0]["id"]
    by_row = ff.json("lineage", "get", row_id)
    assert by_row["requested_entry_id"] == row_id
    text = ff.table("lineage", "get", row_id).stdout
    assert f"CORRELATION ID  {done['root']}" in text
    rows = ff.table_rows(text, ["#", "ADAPTER", "STAGE", "STATUS", "STARTED", "DURATION", "DELIVERIES", "STORAGE KEY"])
    assert [(row["#"], row["ADAPTER"], row["DELIVERIES"]) for row in rows] == [("0", "split", "1")]
    assert rows[0]["STORAGE KEY"].endswith(f"{done['root']}.fanout.json")
    assert ff("lineage", "get", ff.MISSING_ID).exit_code == 7


def test_get_shows_the_error_of_a_failed_row(ff: Cli, failed: dict[str, Any]) -> None:
    row = ff.json("lineage", "failures", "--execution", failed["id"])["entries"][0]
    text = ff.table("lineage", "get", row["correlation_id"]).stdout
    assert "STATUS          failed" in text
    assert f"{row['error_info']['error_type']}: induced for the CLI" in text


def test_chain_and_children(ff: Cli, done: dict[str, Any]) -> None:
    chain = ff.json("lineage", "chain", done["root"])
    assert chain["message"]["correlation_id"] == done["root"]
    assert len(chain["descendants"]) == 3 and chain["ancestors"] == []
    child_id = chain["descendants"][0]["correlation_id"]
    tree = ff.table("lineage", "chain", child_id).stdout.splitlines()
    assert tree[0] == f"{done['root']}  lndone_intake/split  completed  [execution {done['id']}]"
    assert any(line.endswith(f"{child_id}  lndone_sink/passthrough  completed") for line in tree[1:])
    assert len(tree) == 2  # its ancestors and descendants, not its siblings
    assert len(ff.table("lineage", "chain", done["root"]).stdout.splitlines()) == 4  # the root and 3 children
    shallow = ff.json("lineage", "chain", child_id, "--max-depth", "1")
    assert [message["correlation_id"] for message in shallow["ancestors"]] == [done["root"]]
    children = ff.json("lineage", "children", done["root"])
    assert children["total"] == 3 and len(children["children"]) == 3
    rows = ff.table_rows(
        ff.table("lineage", "children", done["root"]).stdout,
        ["CORRELATION ID", "ROUTE", "STAGES", "STATUS", "STARTED", "COMPLETED"],
    )
    assert {row["CORRELATION ID"] for row in rows} == {child["correlation_id"] for child in children["children"]}
    assert {(row["ROUTE"], row["STAGES"], row["STATUS"]) for row in rows} == {
        ("lndone_intake, lndone_sink", "2", "completed")
    }


def test_failures(ff: Cli, failed: dict[str, Any]) -> None:
    page = ff.json("lineage", "failures", "--execution", failed["id"], "--adapter", "fail")
    assert page["limit"] == 20 and page["total"] == 1
    rows = ff.table_rows(
        ff.table("lineage", "failures", "--route", "lnfail").stdout,
        ["ID", "EXECUTION", "ROUTE", "ADAPTER", "STAGE", "FAILED AT", "ERROR", "MESSAGE"],
    )
    assert [(row["EXECUTION"], row["ROUTE"], row["ADAPTER"], row["MESSAGE"]) for row in rows] == [
        (failed["id"], "lnfail", "fail", "induced for the CLI")
    ]
    newest = ff.json("lineage", "failures")  # across all executions, exit 0 with rows
    assert failed["id"] in {entry["execution_id"] for entry in newest["entries"]}


def test_stats_table_is_exact(ff: Cli, done: dict[str, Any]) -> None:
    stats = ff.json("lineage", "stats", "--execution", done["id"])
    assert (stats["execution_id"], stats["total"]) == (done["id"], 7)
    lines = [line.rstrip() for line in ff.table("lineage", "stats", "--execution", "lineage-done").stdout.splitlines()]
    assert lines == [
        "ROUTE          ADAPTER      COUNT  COMPLETED  FAILED",
        "lndone_intake  split        1      1          0",
        "lndone_intake  set_fields   3      3          0",
        "lndone_sink    passthrough  3      3          0",
    ]
    assert ff("lineage", "stats").exit_code == 2


def test_batch(ff: Cli, done: dict[str, Any]) -> None:
    missing = ff("lineage", "batch", ff.MISSING_ID, output="json")
    assert missing.exit_code == 7
    assert json.loads(missing.stderr)["error"]["error_code"] == "batch_not_found"
