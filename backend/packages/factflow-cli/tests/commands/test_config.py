"""`factflow config create|list|get|edit|run|delete` against a live server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Cli

INVALID_YAML = """\
version: "1.0"
name: broken-config
routes:
  r:
    inbound: {queue: broken.in}
    adapters:
      - {type: no_such_adapter}
init_message: {route: r}
"""


def panel_fields(text: str) -> dict[str, str]:
    """`LABEL  value` rows of a boxed panel."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        inner = line.strip().strip("│").strip()
        if not inner or inner[0] in "╭╰":
            continue
        label, _, value = inner.partition("  ")
        fields[label.strip()] = value.strip()
    return fields


def test_create_from_a_file_uses_the_yaml_name_and_the_absolute_path(ff: Cli, tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    path.write_text(ff.split_yaml("create1"))
    record = ff.json("config", "create", "-f", str(path), "--description", "from a test")
    assert record["name"] == "create1-split"
    assert (record["source_type"], record["source_path"]) == ("file", str(path.resolve()))
    assert (record["version"], record["is_active"], record["is_runnable"]) == (1, True, True)
    assert record["description"] == "from a test"
    assert record["config_hash"] == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_create_table_shows_the_panel(ff: Cli, tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    path.write_text(ff.split_yaml("create2"))
    result = ff.table("config", "create", "-f", str(path))
    fields = panel_fields(result.stdout)
    assert list(fields) == ["ID", "NAME", "VERSION", "ACTIVE", "RUNNABLE", "HASH", "CREATED"]
    assert (fields["NAME"], fields["VERSION"], fields["ACTIVE"], fields["RUNNABLE"]) == (
        "create2-split",
        "1",
        "yes",
        "yes",
    )
    assert fields["HASH"].startswith("sha256:") and fields["CREATED"].endswith("Z")


def test_create_names_from_flag_file_name_and_stdin(ff: Cli, tmp_path: Path) -> None:
    nameless_yaml = ff.split_yaml("nameless").replace("name: nameless-split\n", "")
    path = tmp_path / "my-pipeline.yml"
    path.write_text(nameless_yaml)
    assert ff.json("config", "create", "-f", str(path))["name"] == "my-pipeline"
    assert ff.json("config", "create", "-f", str(path), "--name", "chosen")["name"] == "chosen"
    from_stdin = ff.json("config", "create", "-f", "-", input=nameless_yaml)
    digest = hashlib.sha256(nameless_yaml.encode()).hexdigest()[:8]
    assert from_stdin["name"] == f"stdin-{digest}"
    assert (from_stdin["source_type"], from_stdin["source_path"]) == ("api", None)
    # A YAML with its own name keeps it, also from stdin.
    assert ff.json("config", "create", "-f", "-", input=ff.split_yaml("named"))["name"] == "named-split"


def test_create_with_validation_errors_stores_and_exits_1(ff: Cli, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(INVALID_YAML)
    result = ff("config", "create", "-f", str(path), output="json")
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert record["is_runnable"] is False
    assert [issue["code"] for issue in record["validation_report"]["issues"]][:1] == ["E103"]
    table = ff("config", "create", "-f", str(path), output="table")
    assert table.exit_code == 1
    assert "E103" in table.stdout and "routes.r.adapters[0].type" in table.stdout
    assert panel_fields(table.stdout)["RUNNABLE"] == "no"


def test_create_parse_error_stores_nothing_and_exits_1(ff: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: [unclosed\n")
    before = ff.json("config", "list", "--limit", "1")["total"]
    result = ff("config", "create", "-f", str(path), output="table")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "[yaml_parse_error, status 400, correlation " in result.stderr
    assert "  error E00" in result.stderr  # the report's issues follow the error line
    assert ff.json("config", "list", "--limit", "1")["total"] == before


def test_create_missing_file_is_a_usage_error(ff: Cli, tmp_path: Path) -> None:
    result = ff("config", "create", "-f", str(tmp_path / "missing.yaml"), output="json")
    assert result.exit_code == 2
    assert json.loads(result.stderr)["error"]["detail"].startswith(f"cannot read '{tmp_path / 'missing.yaml'}'")


def test_list_pages_and_filters_by_state(ff: Cli, tmp_path: Path) -> None:
    ids = [ff.store(ff.split_yaml(f"list{n}")) for n in range(3)]
    page = ff.json("config", "list", "--limit", "2")
    assert (page["limit"], page["offset"], len(page["configs"])) == (2, 0, 2)
    assert [item["id"] for item in page["configs"]] == ids[::-1][:2]  # newest update first
    ff.json("config", "delete", ids[0])
    inactive = ff.json("config", "list", "--inactive")
    assert ids[0] in [item["id"] for item in inactive["configs"]]
    assert ids[0] not in [item["id"] for item in ff.json("config", "list", "--active", "--limit", "500")["configs"]]
    both = ff("config", "list", "--active", "--inactive")
    assert both.exit_code == 2


def test_list_table_columns_and_footer(ff: Cli) -> None:
    ff.store(ff.split_yaml("listtable"))
    total = ff.json("config", "list", "--limit", "1")["total"]
    lines = ff.table("config", "list", "--limit", "1").stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "VERSION", "ACTIVE", "RUNNABLE", "ERRORS", "WARNINGS", "UPDATED"]
    assert lines[1].split()[1:7] == ["listtable-split", "1", "yes", "yes", "0", "0"]
    assert lines[-1] == f"showing 1–1 of {total} (next: --offset 1)"


def test_get_json_table_and_raw_yaml(ff: Cli) -> None:
    text = ff.split_yaml("getter") + "# trailing comment, kept exactly"
    config_id = ff.store(text)
    detail = ff.json("config", "get", config_id)
    assert detail["config_yaml"] == text and detail["id"] == config_id
    for mode in ("json", "table"):
        raw = ff("config", "get", config_id, "--yaml", output=mode)
        assert (raw.exit_code, raw.stdout) == (0, text)
    table = ff.table("config", "get", config_id).stdout
    fields = panel_fields(table.split("╰")[0])
    assert fields["SOURCE"] == "api" and fields["UPDATED"].endswith("Z")
    assert "getter_intake:" in table


def test_get_errors(ff: Cli) -> None:
    missing = ff("config", "get", ff.MISSING_ID, output="json")
    assert missing.exit_code == 7
    assert json.loads(missing.stderr)["error"]["error_code"] == "config_not_found"
    malformed = ff("config", "get", "not-a-uuid", output="table")
    assert malformed.exit_code == 2
    assert "[request_validation_error, status 422" in malformed.stderr


def test_edit_bumps_the_version_and_shows_old_to_new(ff: Cli, tmp_path: Path) -> None:
    config_id = ff.store(ff.split_yaml("editor"))
    path = tmp_path / "v2.yaml"
    path.write_text(ff.split_yaml("editor", items=4))
    table = ff.table("config", "edit", config_id, "-f", str(path), "--name", "renamed")
    assert panel_fields(table.stdout)["VERSION"] == "1 → 2"
    assert panel_fields(table.stdout)["NAME"] == "renamed"
    record = ff.json("config", "edit", config_id, "-f", "-", "--expected-version", "2", input=path.read_text())
    assert (record["version"], record["name"]) == (2, "renamed")  # same text: same version, name kept
    conflict = ff("config", "edit", config_id, "-f", str(path), "--expected-version", "1", output="table")
    assert conflict.exit_code == 1
    assert "[version_conflict, status 409" in conflict.stderr
    ff.json("config", "delete", config_id)
    inactive = ff("config", "edit", config_id, "-f", str(path), output="json")
    assert inactive.exit_code == 1
    assert json.loads(inactive.stderr)["error"]["error_code"] == "config_inactive"


def test_run_merges_payload_and_set_into_the_init_payload(ff: Cli) -> None:
    config_id = ff.store(ff.split_yaml("runner"))
    execution = ff.json(
        "config",
        "run",
        config_id,
        "--tag",
        "cli-run-merge",
        "--payload",
        '{"items": [{"id": 10}], "meta": {"a": 1, "b": 2}}',
        "--set",
        "meta.b=3",
        "--set",
        "meta.deep.x=true",
        "--set",
        "note=hello world",
    )
    assert (execution["tag"], execution["status"], execution["source"]) == ("cli-run-merge", "running", "cli")
    assert execution["execution_id"] == execution["id"]
    with ff.client() as client:
        detail = client.get(f"/api/v1/executions/{execution['id']}").json()
    assert detail["init_payload"] == {
        "batch": 7,
        "items": [{"id": 10}],
        "meta": {"a": 1, "b": 3, "deep": {"x": True}},
        "note": "hello world",
    }


def test_run_table_and_wait(ff: Cli) -> None:
    config_id = ff.store(ff.split_yaml("runwait"))
    lines = ff.table("config", "run", config_id, "--skip-init-message").stdout.splitlines()
    assert lines[0].split() == ["EXECUTION", "ID", "STATUS", "CONFIG", "VERSION", "TAG", "STARTED"]
    assert lines[1].split()[1:4] == ["running", "runwait-split", "1"]
    waited = ff.json("config", "run", config_id, "--wait")
    assert set(waited) == {"execution_id", "status", "completed", "duration_ms", "stats"}
    assert (waited["status"], waited["completed"]) == ("completed", True)
    assert waited["stats"]["message_counts"]["published"] == 4  # the init message and its 3 items


def test_run_errors(ff: Cli, tmp_path: Path) -> None:
    invalid_id = ff.store(INVALID_YAML)
    invalid = ff("config", "run", invalid_id, output="table")
    assert invalid.exit_code == 1
    assert "[config_invalid, status 400" in invalid.stderr
    assert "E103" in invalid.stderr  # the issues are listed under the error
    invalid_json = ff("config", "run", invalid_id, output="json")
    assert json.loads(invalid_json.stderr)["error"]["validation_report"]["error_count"] == 1
    assert ff("config", "run", ff.MISSING_ID).exit_code == 7
    assert ff("config", "run", invalid_id, "--payload", "[1]").exit_code == 2
    assert ff("config", "run", invalid_id, "--set", "novalue").exit_code == 2
    assert ff("config", "run", invalid_id, "--tag", "bad tag!").exit_code == 2  # 422 from the server
    inactive_id = ff.store(ff.split_yaml("inactive"))
    ff.json("config", "delete", inactive_id)
    inactive = ff("config", "run", inactive_id, output="json")
    assert inactive.exit_code == 1
    assert json.loads(inactive.stderr)["error"]["error_code"] == "config_inactive"


def test_delete(ff: Cli) -> None:
    config_id = ff.store(ff.split_yaml("deleter"))
    table = ff.table("config", "delete", config_id)
    assert table.stdout == f"Config {config_id} deactivated.\n"
    assert ff.json("config", "delete", config_id) == {"id": config_id, "is_active": False}  # idempotent
    assert ff.json("config", "get", config_id)["is_active"] is False
    assert ff("config", "delete", ff.MISSING_ID).exit_code == 7


def test_unreachable_server_exits_6(ff: Cli, closed_port_url: str) -> None:
    result = ff("--server", closed_port_url, "config", "list", output="table")
    assert result.exit_code == 6
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: cannot reach the factflow server at {closed_port_url}/api/v1")
