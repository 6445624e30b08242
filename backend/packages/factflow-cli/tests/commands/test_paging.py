"""`--cursor`, `--all` and `execution delete` against a live server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Cli


@pytest.fixture(scope="module")
def runs(ff: Cli) -> list[dict[str, Any]]:
    """Three finished runs of one split config (3 items each)."""
    config_id = ff.store(ff.split_yaml("paged"))
    executions = [ff.start(config_id, tag=f"paged-{n}") for n in range(3)]
    with ff.client() as client:
        for execution in executions:
            assert client.post(f"/api/v1/executions/{execution['id']}/wait", json={"timeout": 60}).status_code == 200
    return [{**execution, "config_id": config_id} for execution in executions]


def test_execution_list_cursor_and_all(ff: Cli, runs: list[dict[str, Any]]) -> None:
    config_id = runs[0]["config_id"]
    newest_first = [run["id"] for run in reversed(runs)]
    first = ff.json("execution", "list", "--config", config_id, "--limit", "1")
    assert [item["id"] for item in first["executions"]] == newest_first[:1]
    second = ff.json("execution", "list", "--config", config_id, "--limit", "1", "--cursor", first["next_cursor"])
    assert [item["id"] for item in second["executions"]] == newest_first[1:2]
    merged = ff.json("execution", "list", "--config", config_id, "--limit", "1", "--all")
    assert [item["id"] for item in merged["executions"]] == newest_first
    assert (merged["total"], merged["offset"], merged["has_more"], merged["next_cursor"]) == (3, 0, False, None)
    lines = ff.table("execution", "list", "--config", config_id, "--limit", "1", "--all").stdout.splitlines()
    assert lines[-1] == "showing 1–3 of 3"
    assert [line.split()[0] for line in lines[1:-1]] == newest_first
    page = ff.table("execution", "list", "--config", config_id, "--limit", "1", "--cursor", first["next_cursor"])
    assert page.stdout.splitlines()[-1] == f"showing 1 of 3 (next: --cursor {second['next_cursor']})"


def test_lineage_and_storage_lists_follow_every_page(ff: Cli, runs: list[dict[str, Any]]) -> None:
    execution_id = runs[0]["id"]
    everything = ff.json("lineage", "list", "--execution", execution_id, "--limit", "1000")
    merged = ff.json("lineage", "list", "--execution", execution_id, "--limit", "2", "--all")
    assert [row["id"] for row in merged["entries"]] == [row["id"] for row in everything["entries"]]
    assert len(merged["entries"]) == merged["total"] > 2
    objects = ff.json("storage", "list", "--execution", execution_id, "--limit", "1000")
    paged = ff.json("storage", "list", "--execution", execution_id, "--limit", "1", "--all")
    assert [item["key"] for item in paged["objects"]] == [item["key"] for item in objects["objects"]]
    failures = ff.json("lineage", "failures", "--all")
    assert failures["next_cursor"] is None and failures["has_more"] is False


def test_cursor_usage_errors(ff: Cli, runs: list[dict[str, Any]]) -> None:
    config_id = runs[0]["config_id"]
    cursor = ff.json("execution", "list", "--config", config_id, "--limit", "1")["next_cursor"]
    assert ff("execution", "list", "--cursor", cursor, "--offset", "0").exit_code == 2
    assert ff("execution", "list", "--all", "--offset", "5").exit_code == 2
    bad = ff("execution", "list", "--config", config_id, "--cursor", "nonsense", output="json")
    assert bad.exit_code == 2 and "invalid_cursor" in bad.stderr
    other = ff("execution", "list", "--status", "failed", "--cursor", cursor, output="table")
    assert other.exit_code == 2 and "other filters" in other.stderr


def test_execution_delete(ff: Cli) -> None:
    done = ff.finish(ff.split_yaml("gone"), tag="delete-cli")
    refused = ff("execution", "delete", "delete-cli")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    body = ff.json("execution", "delete", "delete-cli", "--yes")
    assert body["execution_id"] == done["id"] and body["status"] == "completed"
    assert body["deleted_lineage_rows"] > 0 and body["deleted_objects"] >= 0
    assert ff("execution", "get", done["id"]).exit_code == 7
    assert ff("execution", "delete", done["id"], "--yes").exit_code == 7
    again = ff.finish(ff.split_yaml("gone2"))
    line = ff.table("execution", "delete", again["id"], "-y").stdout.strip()
    assert line.startswith(f"Execution {again['id']} deleted (completed): ")


def test_a_running_execution_is_not_deleted(ff: Cli) -> None:
    running = ff.start(ff.store(ff.slow_yaml("keepme")))
    result = ff("execution", "delete", running["id"], "--yes", output="table")
    assert result.exit_code == 1 and "execution_not_finished" in result.stderr
    with ff.client() as client:
        client.post(f"/api/v1/executions/{running['id']}/cancel")
        client.post(f"/api/v1/executions/{running['id']}/wait", json={"timeout": 30}, timeout=60)
