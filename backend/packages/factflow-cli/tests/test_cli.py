from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click
from click.testing import CliRunner

from factflow_cli import ExitCode
from factflow_cli.main import cli

FACTFLOW = str(Path(sys.executable).with_name("factflow"))


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == "factflow 0.1.0\n"


def test_help_lists_global_options_and_groups() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for option in ("--server URL", "--token TOKEN", "--timeout DURATION", "-o, --output [table|json]", "--version"):
        assert option in result.stdout
    assert "config" in result.stdout


COMMANDS = {
    "config": ["create", "delete", "edit", "get", "list", "run", "validate"],
    "execution": ["cancel", "dag", "delete", "get", "list", "replay", "routes", "stats", "wait"],
    "pipeline": ["list", "metrics", "pause", "resume"],
    "storage": ["browse", "download", "get", "list", "metadata", "watch"],
    "lineage": ["batch", "chain", "children", "failures", "get", "list", "stats"],
    "system": ["health", "metrics"],
    "adapter": ["list", "new", "show", "test"],
    "worker": ["get", "list"],
}


def test_the_command_tree_is_the_contracts() -> None:
    groups = {name: group for name, group in cli.commands.items() if isinstance(group, click.Group)}
    assert {name: sorted(group.commands) for name, group in groups.items()} == COMMANDS


def test_every_group_and_command_has_help() -> None:
    for group, commands in COMMANDS.items():
        for args in ([group, "--help"], *([group, command, "--help"] for command in commands)):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, result.output
            assert result.stdout.startswith(f"Usage: cli {' '.join(args[:-1])}")
            if len(args) == 3:
                assert "-o, --output [table|json]" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["nope"])
    assert result.exit_code == ExitCode.USAGE


def test_exit_codes_match_the_contract() -> None:
    assert {code.name: code.value for code in ExitCode} == {
        "OK": 0,
        "FAILURE": 1,
        "USAGE": 2,
        "CANCELLED": 3,
        "INTERRUPTED": 4,
        "TIMED_OUT": 5,
        "UNREACHABLE": 6,
        "NOT_FOUND": 7,
        "CTRL_C": 130,
    }


def test_console_script_starts_fast_without_heavy_imports() -> None:
    started = time.perf_counter()
    result = subprocess.run([FACTFLOW, "--help"], capture_output=True, text=True, check=False, timeout=30)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0
    assert "Usage: factflow" in result.stdout
    assert elapsed < 1.0, f"factflow --help took {elapsed:.2f}s"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, factflow_cli.main; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'factflow_engine', 'httpx', 'rich', 'pydantic'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "[]"


def test_console_script_version() -> None:
    result = subprocess.run([FACTFLOW, "--version"], capture_output=True, text=True, check=False, timeout=30)
    assert (result.returncode, result.stdout) == (0, "factflow 0.1.0\n")


def test_piped_output_is_json_and_exit_code_reflects_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text('version: "1.0"\nroutes: {}\n')
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(
        [FACTFLOW, "config", "validate", str(tmp_path)], capture_output=True, text=True, check=False, env=env
    )
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["is_valid"] is False
    assert [issue["code"] for issue in document["files"][0]["issues"]][:1] == ["E021"]
    assert result.stderr == ""


def test_console_script_table_mode(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(
        'version: "1.0"\nroutes:\n  r:\n    inbound: {queue: q}\n    adapters: [{type: passthrough}]\n'
    )
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    result = subprocess.run(
        [FACTFLOW, "config", "validate", str(tmp_path / "ok.yaml"), "-o", "table"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["FILE", "RESULT", "ERRORS", "WARNINGS"]
    assert lines[1].split() == [str(tmp_path / "ok.yaml"), "valid", "0", "2"]  # W501 and W503
    assert "W503" in result.stdout
    assert "\x1b[" not in result.stdout


def test_console_script_missing_path_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [FACTFLOW, "config", "validate", str(tmp_path / "missing")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert json.loads(result.stderr)["error"]["detail"] == f"'{tmp_path / 'missing'}' does not exist"
