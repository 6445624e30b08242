"""`factflow execution replay` (same- and cross-pipeline, into another config) and `lineage batch` on a replay."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Cli

# `passthrough` is a stage of both routes, so replaying it needs --from-route.
SOURCE_YAML = """\
version: "1.0"
name: replay-source
routes:
  rp_first:
    inbound: {queue: rp.in}
    adapters:
      - {type: split, config: {field: items}}
      - {type: passthrough}
      - {type: set_fields, config: {values: {first: true}}}
    outbound:
      - {queue: rp.next}
  rp_second:
    inbound: {queue: rp.next}
    adapters:
      - {type: passthrough}
init_message:
  route: rp_first
  payload: {items: [1, 2, 3]}
"""

OTHER_YAML = """\
version: "1.0"
name: replay-other
routes:
  rp_second:
    inbound: {queue: other.in}
    adapters:
      - {type: set_fields, config: {values: {other: true}}}
"""

PANEL = ["NEW EXECUTION", "PARENT", "MODE", "FROM", "TO", "START AT ADAPTER", "OBJECTS FOUND", "BATCH", "STATUS"]


@pytest.fixture(scope="module")
def source(ff: Cli) -> dict[str, Any]:
    return ff.finish(SOURCE_YAML, tag="replay-source")


def panel_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        inner = line.strip().strip("│").strip()
        if inner and inner[0] not in "╭╰":
            label, _, value = inner.partition("  ")
            fields[label.strip()] = value.strip()
    return fields


def test_same_pipeline_replay_continues_after_the_stage(ff: Cli, source: dict[str, Any]) -> None:
    created = ff.json("execution", "replay", "replay-source", "--from-stage", "set_fields", "--tag", "rp-same")
    assert created["execution_id"] == created["id"] and created["parent_execution_id"] == source["id"]
    replay = created["replay"]
    assert (replay["mode"], replay["from_route"], replay["to_route"], replay["start_at_adapter"]) == (
        "same_pipeline",
        "rp_first",
        "rp_second",
        0,
    )  # set_fields is the last stage of rp_first: its outputs go on to rp_second
    outcome = ff.json("execution", "wait", "rp-same")
    assert (outcome["status"], outcome["stats"]["message_counts"]["published"]) == ("completed", 3)


def test_replay_table_and_wait(ff: Cli, source: dict[str, Any]) -> None:
    result = ff.table("execution", "replay", source["id"], "--from-stage", "split", "--wait")
    created, waited = result.stdout.split("╰", 1)
    fields = panel_fields(created)
    assert list(fields) == PANEL
    assert (fields["PARENT"], fields["MODE"], fields["FROM"], fields["TO"]) == (
        source["id"],
        "same_pipeline",
        "rp_first/split",
        "rp_first → rp.in",
    )
    assert (fields["START AT ADAPTER"], fields["OBJECTS FOUND"], fields["STATUS"]) == ("1", "3", "running")
    assert "STATUS            completed" in waited


def test_cross_pipeline_replay_and_into_another_config(ff: Cli, source: dict[str, Any]) -> None:
    waited = ff.json("execution", "replay", source["id"], "--from-stage", "split", "--to-route", "rp_second", "--wait")
    assert set(waited) == {"execution_id", "status", "completed", "duration_ms", "stats"}
    assert waited["status"] == "completed"
    other_id = ff.store(OTHER_YAML)
    created = ff.json(
        "execution",
        "replay",
        source["id"],
        "--from-stage",
        "passthrough",
        "--from-route",
        "rp_second",
        "--to-route",
        "rp_second",
        "--config-id",
        other_id,
        "--tag",
        "rp-cross",
    )
    assert (created["config_id"], created["replay"]["mode"], created["replay"]["to_queue"]) == (
        other_id,
        "cross_pipeline",
        "other.in",
    )
    assert ff("execution", "wait", "rp-cross").exit_code == 0
    text = ff.table("execution", "get", "rp-cross").stdout
    assert "╭─ REPLAY" in text and "MODE              cross_pipeline" in text
    parents = ff.json("execution", "list", "--parent", "replay-source", "--limit", "100")
    assert created["id"] in [item["id"] for item in parents["executions"]]
    assert {item["source"] for item in parents["executions"]} == {"replay"}


def test_replay_errors(ff: Cli, source: dict[str, Any]) -> None:
    ambiguous = ff("execution", "replay", source["id"], "--from-stage", "passthrough", output="table")
    assert ambiguous.exit_code == 1
    assert "[ambiguous_stage, status 400" in ambiguous.stderr
    assert "  candidates: " in ambiguous.stderr and "rp_first" in ambiguous.stderr and "rp_second" in ambiguous.stderr
    ambiguous_json = ff("execution", "replay", source["id"], "--from-stage", "passthrough", output="json")
    assert set(json.loads(ambiguous_json.stderr)["error"]["context"]["candidates"]) == {"rp_first", "rp_second"}
    for args, code, error_code in (
        (["--from-stage", "nope"], 1, "unknown_stage"),
        (["--from-stage", "split", "--to-route", "nope"], 1, "unknown_route"),
        (["--from-stage", "passthrough", "--from-route", "rp_second"], 1, "nothing_to_replay"),
        (["--from-stage", "split", "--from-path", "zzz"], 7, "replay_source_empty"),
        (["--from-stage", "split", "--config-id", ff.MISSING_ID], 7, "config_not_found"),
    ):
        result = ff("execution", "replay", source["id"], *args, output="json")
        assert (result.exit_code, json.loads(result.stderr)["error"]["error_code"]) == (code, error_code), args
    assert ff("execution", "replay", "no-such-tag", "--from-stage", "split").exit_code == 7
    assert ff("execution", "replay", source["id"]).exit_code == 2  # --from-stage is required


def test_lineage_batch_of_a_replay(ff: Cli, source: dict[str, Any]) -> None:
    created = ff.json("execution", "replay", source["id"], "--from-stage", "split", "--to-route", "rp_second")
    ff.json("execution", "wait", created["id"])
    batch_id = created["replay_batch_id"]
    ff.wait_for(lambda: ff.json("lineage", "batch", batch_id)["total"] == 3, what="the replay batch rows")
    page = ff.json("lineage", "batch", batch_id)
    assert (page["batch_id"], page["kind"], page["limit"]) == (batch_id, "replay", 1000)
    assert {entry["execution_id"] for entry in page["entries"]} == {created["id"]}
    text = ff.table("lineage", "batch", batch_id, "--limit", "2").stdout
    assert text.splitlines()[0].rstrip() == f"BATCH {batch_id} (replay)"
    assert text.splitlines()[-1] == "showing 1–2 of 3 (next: --offset 2)"
    # A replayed message's chain leads back into the source execution.
    message = page["entries"][0]["correlation_id"]
    chain = ff.table("lineage", "chain", message).stdout.splitlines()
    assert chain[0].endswith(f"[execution {source['id']}]")
    assert any(line.endswith(f"[execution {created['id']}]") for line in chain[1:])
