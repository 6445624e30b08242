"""`factflow config …` (docs/reference/cli.md)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .._calls import call, delete, get_json, segment
from .._errors import CliError
from .._exit_codes import ExitCode
from .._output import (
    Column,
    format_flag,
    format_time,
    make_panel,
    make_table,
    paging_footer,
    print_json,
    print_line,
    print_renderable,
)
from .._state import CliState, output_option, paging_options, pass_state

if TYPE_CHECKING:
    from rich.console import RenderableType

    from factflow_protocols import JSONObject

    from .._client import ApiClient

__all__ = ("config",)

_LIST_COLUMNS = (
    Column("ID", key=True),
    Column("NAME", text=True),
    Column("VERSION", justify="right"),
    Column("ACTIVE"),
    Column("RUNNABLE"),
    Column("ERRORS", justify="right"),
    Column("WARNINGS", justify="right"),
    Column("UPDATED"),
)
_ISSUE_COLUMNS = (Column("SEVERITY"), Column("CODE"), Column("PATH", key=True), Column("MESSAGE", text=True))
_RUN_COLUMNS = (
    Column("EXECUTION ID", key=True),
    Column("STATUS"),
    Column("CONFIG", text=True),
    Column("VERSION", justify="right"),
    Column("TAG", key=True),
    Column("STARTED"),
)


@click.group()
def config() -> None:
    """Pipeline configs: validate, store, edit, run, deactivate."""


@config.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--remote", is_flag=True, help="Validate on the server (POST /configs/validate) instead of locally.")
@output_option
@pass_state
def validate(state: CliState, path: Path, remote: bool) -> None:
    """Validate a pipeline YAML file, or every *.yaml/*.yml below a directory.

    Locally (the default) with the engine's validator and the adapters installed alongside the
    CLI; no server needed. Exit 0 without errors (warnings allowed), 1 with errors, 2 when PATH
    is missing or holds no YAML files.
    """
    # Imported here: the local path loads the engine, which `factflow --help` must not pay for.
    from .._validation import collect_yaml_files, print_results, validate_local, validate_remote

    files = collect_yaml_files(path)
    results = validate_remote(state, files) if remote else validate_local(files)
    print_results(results, state.mode)
    if any(result.error_count for result in results):
        raise click.exceptions.Exit(int(ExitCode.FAILURE))


# ---------------------------------------------------------------- reading YAML


def _read_source(source: str) -> tuple[str, Path | None]:
    """The YAML text of `-f FILE` or `-f -` (stdin), and the file's absolute path."""
    try:
        if source == "-":
            raw = sys.stdin.buffer.read()
            path = None
        else:
            path = Path(source).absolute()
            raw = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {source!r} ({exc.strerror or exc})", exit_code=ExitCode.USAGE) from exc
    try:
        return raw.decode("utf-8"), path
    except UnicodeDecodeError as exc:
        raise CliError(f"{source!r} is not UTF-8 text; save it as UTF-8") from exc


def _yaml_has_name(text: str) -> bool:
    """True when the YAML's top level has a non-empty string `name` (the server then applies it)."""
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(document, dict) and isinstance(document.get("name"), str) and bool(document["name"].strip())


def _create_body(text: str, path: Path | None, name: str | None, description: str | None) -> JSONObject:
    body: JSONObject = {"config_yaml": text}
    if name is not None:
        body["name"] = name
    elif not _yaml_has_name(text):
        if path is not None:
            body["name"] = path.stem
        else:
            body["name"] = "stdin-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    if description is not None:
        body["description"] = description
    if path is not None:
        body["source_type"] = "file"
        body["source_path"] = str(path)
    else:
        body["source_type"] = "api"
    return body


# ---------------------------------------------------------------- rendering


def _issues_table(record: JSONObject) -> RenderableType | None:
    from rich.text import Text

    issues = (record.get("validation_report") or {}).get("issues") or []
    if not issues:
        return None
    rows = [
        (
            Text(str(issue.get("severity", "")), style="red" if issue.get("severity") == "error" else "yellow"),
            issue.get("code"),
            issue.get("path"),
            issue.get("message"),
        )
        for issue in issues
    ]
    return make_table(_ISSUE_COLUMNS, rows)


def _config_panel(record: JSONObject, *, version: str | None = None, detail: bool = False) -> RenderableType:
    rows: list[tuple[str, object]] = [
        ("ID", record.get("id")),
        ("NAME", record.get("name")),
        ("VERSION", version if version is not None else record.get("version")),
        ("ACTIVE", format_flag(record.get("is_active"))),
        ("RUNNABLE", format_flag(record.get("is_runnable"))),
        ("HASH", record.get("config_hash")),
        ("CREATED", format_time(record.get("created_at"))),
    ]
    if detail:
        source = record.get("source_type") or ""
        if record.get("source_path"):
            source = f"{source} ({record['source_path']})"
        rows += [("SOURCE", source), ("UPDATED", format_time(record.get("updated_at")))]
    if record.get("description"):
        rows.insert(2, ("DESCRIPTION", record["description"]))
    return make_panel(rows)


def _print_record(state: CliState, record: JSONObject, *, version: str | None = None) -> None:
    """Print a stored config (create/edit) and exit 1 when it carries validation errors."""
    if state.mode == "json":
        print_json(record)
    else:
        renderables = [_config_panel(record, version=version)]
        issues = _issues_table(record)
        if issues is not None:
            renderables.append(issues)
        print_renderable(*renderables)
    if int((record.get("validation_report") or {}).get("error_count") or 0) > 0:
        raise click.exceptions.Exit(int(ExitCode.FAILURE))


# ---------------------------------------------------------------- commands


@config.command("create")
@click.option("-f", "--file", "source", required=True, metavar="FILE|-", help="Pipeline YAML file, or - for stdin.")
@click.option("--name", default=None, help="Config name (default: the YAML's name, else the file name).")
@click.option("--description", default=None, metavar="TEXT", help="Description (default: the YAML's).")
@output_option
@pass_state
def create(state: CliState, source: str, name: str | None, description: str | None) -> None:
    """Store a pipeline config (POST /configs).

    The config is stored even with validation errors (then it is not runnable and the exit code
    is 1); a YAML parse error stores nothing (exit 1).
    """
    text, path = _read_source(source)
    record = call(state, lambda api: api.post_json("/configs", _create_body(text, path, name, description)))
    _print_record(state, record)


@config.command("list")
@click.option("--active", is_flag=True, help="Active configs (the default).")
@click.option("--inactive", is_flag=True, help="Deactivated configs.")
@paging_options(default=50)
@output_option
@pass_state
def list_configs(state: CliState, active: bool, inactive: bool, limit: int, offset: int) -> None:
    """List stored configs, newest update first (GET /configs)."""
    if active and inactive:
        raise click.UsageError("--active and --inactive are mutually exclusive")
    state_filter = "inactive" if inactive else "active"
    page = get_json(state, "/configs", params={"state": state_filter, "limit": limit, "offset": offset})
    if state.mode == "json":
        print_json(page)
        return
    rows = [
        (
            item.get("id"),
            item.get("name"),
            item.get("version"),
            format_flag(item.get("is_active")),
            format_flag(item.get("is_runnable")),
            (item.get("validation_report") or {}).get("error_count"),
            (item.get("validation_report") or {}).get("warning_count"),
            format_time(item.get("updated_at")),
        )
        for item in page.get("configs", [])
    ]
    print_renderable(make_table(_LIST_COLUMNS, rows))
    print_line(paging_footer(offset=offset, shown=len(rows), total=int(page.get("total", len(rows)))))


@config.command("get")
@click.argument("config_id")
@click.option("--yaml", "raw_yaml", is_flag=True, help="Print only the stored YAML (in any output mode).")
@output_option
@pass_state
def get(state: CliState, config_id: str, raw_yaml: bool) -> None:
    """Show a config with its YAML and validation issues (GET /configs/{id})."""
    record = get_json(state, f"/configs/{segment(config_id)}")
    if raw_yaml:
        sys.stdout.write(str(record.get("config_yaml") or ""))
        sys.stdout.flush()
        return
    if state.mode == "json":
        print_json(record)
        return
    from rich.syntax import Syntax

    renderables: list[RenderableType] = [
        _config_panel(record, detail=True),
        Syntax(str(record.get("config_yaml") or ""), "yaml", theme="ansi_dark", background_color="default"),
    ]
    issues = _issues_table(record)
    if issues is not None:
        renderables.append(issues)
    print_renderable(*renderables)


@config.command("edit")
@click.argument("config_id")
@click.option("-f", "--file", "source", required=True, metavar="FILE|-", help="New pipeline YAML, or - for stdin.")
@click.option("--name", default=None, help="New name (default: keep).")
@click.option("--description", default=None, metavar="TEXT", help="New description (default: keep).")
@click.option(
    "--expected-version", type=click.IntRange(min=1), default=None, help="Fail (409) unless this is the version."
)
@output_option
@pass_state
def edit(
    state: CliState,
    config_id: str,
    source: str,
    name: str | None,
    description: str | None,
    expected_version: int | None,
) -> None:
    """Replace a config's YAML (PUT /configs/{id}); the version goes up when the text changes."""
    text, _path = _read_source(source)
    body: JSONObject = {"config_yaml": text}
    if name is not None:
        body["name"] = name
    if description is not None:
        body["description"] = description
    if expected_version is not None:
        body["expected_version"] = expected_version
    path = f"/configs/{segment(config_id)}"
    table = state.mode == "table"

    async def work(api: ApiClient) -> tuple[int | None, JSONObject]:
        # The old version is only shown in table mode (`VERSION old → new`).
        before = await api.get_json(path) if table else None
        return (before or {}).get("version"), await api.put_json(path, body)

    old_version, record = call(state, work)
    version = None
    if table and old_version is not None and old_version != record.get("version"):
        version = f"{old_version} → {record.get('version')}"
    _print_record(state, record, version=version)


@config.command("run")
@click.argument("config_id")
@click.option("--tag", default=None, help="Unique label for the execution (usable instead of its id).")
@click.option("--payload", default=None, metavar="JSON", help="JSON object deep-merged into the init payload.")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set one init-payload key (dotted keys nest; VALUE is JSON when it parses). Repeatable.",
)
@click.option("--skip-init-message", is_flag=True, help="Start the routes without publishing the init message.")
@click.option("--wait", "wait", is_flag=True, help="Then wait for the execution like `execution wait`.")
@output_option
@pass_state
def run(
    state: CliState,
    config_id: str,
    tag: str | None,
    payload: str | None,
    assignments: tuple[str, ...],
    skip_init_message: bool,
    wait: bool,
) -> None:
    """Start an execution of a config (POST /configs/{id}/run)."""
    from .._payload import build_overrides

    overrides = build_overrides(payload, assignments)
    body = {"init_payload_overrides": overrides} if overrides is not None else {}
    params = {"tag": tag, "skip_init_message": True if skip_init_message else None}
    # With --wait, --timeout is the wait's deadline; the start itself keeps the 30 s exchange limit.
    execution = call(
        state,
        lambda api: api.post_json(f"/configs/{segment(config_id)}/run", body, params=params),
        timeout_is_deadline=wait,
    )
    if wait:
        from .._waiting import wait_command

        if state.mode == "table":
            print_run(execution)
        wait_command(state, str(execution.get("execution_id") or execution.get("id")))
        return
    if state.mode == "json":
        print_json(execution)
    else:
        print_run(execution)


def print_run(execution: JSONObject) -> None:
    """The one-row table of a started execution."""
    print_renderable(
        make_table(
            _RUN_COLUMNS,
            [
                (
                    execution.get("execution_id") or execution.get("id"),
                    execution.get("status"),
                    execution.get("config_name"),
                    execution.get("config_version"),
                    execution.get("tag"),
                    format_time(execution.get("started_at")),
                )
            ],
        )
    )


@config.command("delete")
@click.argument("config_id")
@output_option
@pass_state
def delete_config(state: CliState, config_id: str) -> None:
    """Deactivate a config (DELETE /configs/{id}); it stays readable, executions are unaffected."""
    delete(state, f"/configs/{segment(config_id)}")
    if state.mode == "json":
        print_json({"id": config_id, "is_active": False})
    else:
        print_line(f"Config {config_id} deactivated.")
