from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from factflow_cli.main import cli

REPO = Path(__file__).resolve().parents[5]

VALID = """\
version: "1.0"
routes:
  fan_out:
    inbound: {queue: demo.in}
    adapters:
      - type: split
        config: {field: items, keep_fields: [batch]}
      - type: filter
        config: {condition: {field: item.score, operator: gte, value: 0.5}}
init_message:
  route: fan_out
  payload: {items: []}
"""

WARNINGS_ONLY = """\
version: "1.0"
routes:
  only:
    inbound: {queue: q.in}
    adapters:
      - type: passthrough
"""

INVALID = """\
version: "1.0"
routes:
  r:
    inbound: {queue: q.in}
    adapters:
      - type: splitt
      - type: delay
        config: {ms: 10, jiter_ms: 5}
      - type: filter
        config: {condition: {field: a, operator: equals, value: 1}}
init_message: {route: r}
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def as_json(result: Result) -> dict[str, Any]:
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def test_valid_file_exits_0_with_the_json_report(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.yaml", VALID)
    result = run("config", "validate", str(path))
    assert result.exit_code == 0, result.output
    assert as_json(result) == {
        "is_valid": True,
        "error_count": 0,
        "warning_count": 0,
        "files": [{"path": str(path), "is_valid": True, "error_count": 0, "warning_count": 0, "issues": []}],
    }
    assert result.stdout.endswith("}\n") and result.stdout.startswith('{\n  "is_valid"')


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    result = run("config", "validate", str(write(tmp_path, "w.yaml", WARNINGS_ONLY)))
    assert result.exit_code == 0
    document = as_json(result)
    assert document["is_valid"] is True and document["warning_count"] >= 1
    assert {issue["severity"] for issue in document["files"][0]["issues"]} == {"warning"}


def test_errors_exit_1_with_adapter_codes_from_the_entry_points(tmp_path: Path) -> None:
    result = run("config", "validate", str(write(tmp_path, "bad.yaml", INVALID)))
    assert result.exit_code == 1
    (file,) = as_json(result)["files"]
    by_code = {issue["code"]: issue for issue in file["issues"]}
    assert set(by_code) == {"E103", "E301", "E401"}
    assert by_code["E103"]["path"] == "routes.r.adapters[0].type"
    assert by_code["E103"]["suggestion"] == "'splitt' is not registered. Did you mean 'split'?"
    assert by_code["E103"]["line"] == 6
    assert by_code["E301"]["path"] == "routes.r.adapters[1].config.jiter_ms"
    assert by_code["E301"]["suggestion"].endswith("Did you mean 'jitter_ms'?")
    assert by_code["E401"]["path"] == "routes.r.adapters[2].config.condition.operator"
    assert file["error_count"] == 3 and file["is_valid"] is False
    assert set(file["issues"][0]) == {"severity", "code", "path", "line", "column", "message", "suggestion"}


def test_directory_validates_every_yaml_below_it_in_path_order(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", VALID)
    write(tmp_path, "a/z.yaml", INVALID)
    write(tmp_path, "a.yaml", WARNINGS_ONLY)
    write(tmp_path, "a/notes.txt", "not yaml")
    write(tmp_path, "c.json", "{}")
    result = run("config", "validate", str(tmp_path))
    assert result.exit_code == 1
    document = as_json(result)
    assert [file["path"] for file in document["files"]] == [
        str(tmp_path / "a" / "z.yaml"),
        str(tmp_path / "a.yaml"),
        str(tmp_path / "b.yml"),
    ]
    assert document["error_count"] == sum(file["error_count"] for file in document["files"]) == 3
    assert document["warning_count"] == sum(file["warning_count"] for file in document["files"])
    assert document["is_valid"] is False


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = run("config", "validate", "-o", "table", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: '{tmp_path / 'nope.yaml'}' does not exist\n"


def test_directory_without_yaml_is_a_usage_error_in_json_too(tmp_path: Path) -> None:
    write(tmp_path, "readme.md", "# nothing")
    result = run("config", "validate", str(tmp_path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert json.loads(result.stderr) == {
        "error": {
            "status": None,
            "error_code": None,
            "detail": f"no *.yaml or *.yml files below '{tmp_path}'",
            "correlation_id": None,
        }
    }


def test_unparseable_and_non_utf8_files_are_reported_not_crashed(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: [unclosed\n")
    (tmp_path / "b.yaml").write_bytes(b'version: "1.0"\nname: caf\xe9\n')
    result = run("config", "validate", str(tmp_path))
    assert result.exit_code == 1
    codes = [[issue["code"] for issue in file["issues"]] for file in as_json(result)["files"]]
    assert codes == [["E001"], ["E007"]]


def test_table_mode_prints_summary_and_issue_tables(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", INVALID)
    write(tmp_path, "b.yaml", VALID)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["config", "validate", str(tmp_path), "-o", "table"])
    assert result.exit_code == 1
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0].split() == ["FILE", "RESULT", "ERRORS", "WARNINGS"]
    assert lines[1].split() == [str(tmp_path / "a.yaml"), "invalid", "3", "0"]
    assert lines[2].split() == [str(tmp_path / "b.yaml"), "valid", "0", "0"]
    assert lines[3] == ""
    assert lines[4] == str(tmp_path / "a.yaml")
    assert lines[5].split() == ["SEVERITY", "CODE", "PATH", "LINE", "MESSAGE", "SUGGESTION"]
    assert re.match(r"error +E103 +routes\.r\.adapters\[0\]\.type +6 +Adapter type 'splitt'", lines[6])
    assert "Did you mean 'split'?" in lines[6]
    assert len(lines) == 9, "no issue table for a file without issues"
    assert result.stderr == ""


def test_command_level_output_beats_the_global_one(tmp_path: Path) -> None:
    path = str(write(tmp_path, "ok.yaml", VALID))
    table = run("-o", "json", "config", "validate", path, "-o", "table")
    assert table.stdout.startswith("FILE")
    as_json(run("-o", "table", "config", "validate", path, "--output", "json"))
    assert run("-o", "table", "config", "validate", path).stdout.startswith("FILE")


def test_the_builtins_reference_example_is_valid(tmp_path: Path) -> None:
    docs = (REPO / "docs" / "reference" / "builtins.md").read_text()
    example = docs.split("## A pipeline using them", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    result = run("config", "validate", str(write(tmp_path, "example.yaml", example)))
    assert result.exit_code == 0, result.stdout
    assert as_json(result)["warning_count"] == 0


@pytest.mark.parametrize("name", ["pipeline.YAML", "pipeline.txt"])
def test_an_explicit_file_is_validated_whatever_its_suffix(tmp_path: Path, name: str) -> None:
    result = run("config", "validate", str(write(tmp_path, name, VALID)))
    assert result.exit_code == 0
    assert as_json(result)["files"][0]["path"].endswith(name)
