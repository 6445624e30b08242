"""`factflow adapter …` (docs/reference/cli.md): the server's adapter types, and scaffolding a new adapter package."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .._calls import get_json, segment
from .._output import (
    Column,
    format_json_inline,
    make_panel,
    make_table,
    print_json,
    print_line,
    print_renderable,
)
from .._state import CliState, output_option, pass_state

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

    from factflow_protocols import JSONObject

__all__ = ("adapter",)

_LIST_COLUMNS = (
    Column("TYPE", key=True),
    Column("PACKAGE", key=True),
    Column("VERSION"),
    Column("DESCRIPTION", text=True),
)
_SCHEMA_COLUMNS = (
    Column("FIELD", key=True),
    Column("TYPE"),
    Column("DEFAULT"),
    Column("REQUIRED"),
    Column("DESCRIPTION", text=True),
)


def _load_error(info: JSONObject) -> str | None:
    error = info.get("load_error")
    if not isinstance(error, dict):
        return None
    return f"load error: {error.get('error_type')}: {error.get('message')}"


def _description(info: JSONObject) -> Text:
    from rich.text import Text

    problem = _load_error(info)
    if problem is not None:
        return Text(problem, style="red")
    return Text(str(info.get("description") or ""))


@click.group()
def adapter() -> None:
    """Adapter types: list, show, scaffold a new adapter package."""


@adapter.command("list")
@output_option
@pass_state
def list_adapters(state: CliState) -> None:
    """List every adapter type the server discovered (GET /adapters); broken ones in red with the reason."""
    body = get_json(state, "/adapters")
    if state.mode == "json":
        print_json(body)
        return
    rows = [
        (info.get("type"), info.get("package"), info.get("package_version"), _description(info))
        for info in body.get("adapters") or []
    ]
    print_renderable(make_table(_LIST_COLUMNS, rows))


def schema_type(schema: JSONObject) -> str:
    """A short type name for a JSON-Schema property: `string`, `integer|null`, `array[string]`, `Condition`."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "enum" in schema:
        return "|".join(format_json_inline(value) for value in schema["enum"])
    if "const" in schema:
        return format_json_inline(schema["const"])
    for combinator in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(combinator), list):
            return "|".join(dict.fromkeys(schema_type(part) for part in schema[combinator] if isinstance(part, dict)))
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(str(item) for item in kind)
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array[{schema_type(schema['items'])}]"
    return str(kind or "any")


def schema_rows(schema: JSONObject | None) -> list[tuple[object, ...]]:
    """One `FIELD | TYPE | DEFAULT | REQUIRED | DESCRIPTION` row per property of a config schema."""
    if not isinstance(schema, dict):
        return []
    required = set(schema.get("required") or [])
    rows: list[tuple[object, ...]] = []
    for field, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        default = format_json_inline(prop["default"]) if "default" in prop else ""
        rows.append((field, schema_type(prop), default, "yes" if field in required else "no", prop.get("description")))
    return rows


@adapter.command("show")
@click.argument("adapter_type", metavar="TYPE")
@output_option
@pass_state
def show(state: CliState, adapter_type: str) -> None:
    """Show one adapter type and its config schema (GET /adapters/{type}); exit 7 when unknown."""
    info = get_json(state, f"/adapters/{segment(adapter_type)}")
    if state.mode == "json":
        print_json(info)
        return
    from rich.text import Text

    rows: list[tuple[str, object]] = [
        ("TYPE", info.get("type")),
        ("PACKAGE", info.get("package")),
        ("VERSION", info.get("package_version")),
        ("CLASS", info.get("class_path")),
        ("DESCRIPTION", info.get("description")),
    ]
    problem = _load_error(info)
    if problem is not None:
        rows.append(("LOAD ERROR", Text(problem, style="red")))
    renderables: list[RenderableType] = [make_panel(rows)]
    schema = info.get("config_schema")
    if isinstance(schema, dict):
        renderables.append(make_table(_SCHEMA_COLUMNS, schema_rows(schema), title="CONFIG"))
    print_renderable(*renderables)
    if not isinstance(schema, dict) and problem is None:
        print_line("This adapter takes no config.")


@adapter.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create factflow-NAME/.",
)
@output_option
@pass_state
def new(state: CliState, name: str, directory: Path) -> None:
    """Scaffold an adapter package DIR/factflow-NAME/ (local, no server).

    It holds a pyproject.toml with the `factflow.adapters` entry point, src/factflow_NAME/ with a
    config model and an adapter, tests using factflow_engine.testing, and a README. An existing
    directory is never overwritten (exit 1).
    """
    from .._scaffold import scaffold

    root = scaffold(name, directory)
    files = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    if state.mode == "json":
        print_json({"name": name, "path": str(root), "files": files})
        return
    print_line(f"Created {root}:")
    for file in files:
        print_line(f"  {file}")
    print_line(f"Next: pip install -e '{root}[test]' && pytest {root / 'tests'}")


_CHECK_COLUMNS = (Column("ADAPTER", key=True), Column("CHECK", key=True), Column("RESULT"), Column("DETAIL", text=True))
_OUTCOME_STYLE = {"pass": "green", "fail": "red", "skip": "yellow"}


def _json_object(value: str | None, option: str) -> JSONObject | None:
    import json

    from .._errors import CliError
    from .._exit_codes import ExitCode

    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise CliError(f"{option} is not JSON ({exc.msg})", exit_code=ExitCode.USAGE) from exc
    if not isinstance(parsed, dict):
        raise CliError(f"{option} must be a JSON object", exit_code=ExitCode.USAGE)
    return parsed


@adapter.command("test")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--payload",
    default='{"text": "factflow adapter test"}',
    show_default=True,
    help="JSON object each adapter processes for the cancel and JSON-safety checks.",
)
@click.option("--config", "config_json", default=None, help="JSON object: the adapter config to check (default: {}).")
@click.option("--no-tests", is_flag=True, help="Run only the contract checks, not the package's tests/.")
@output_option
@pass_state
def test(state: CliState, path: Path, payload: str, config_json: str | None, no_tests: bool) -> None:
    """Check an adapter package at PATH (local, no server): contract checks, then its tests.

    For every `factflow.adapters` entry point in PATH/pyproject.toml: discoverable (installed,
    loads, `adapter_type` matches), config model valid (schema, validator accepts it, E301 on an
    unknown option), cancel-safe (CancelledError propagates, stop() runs) and JSON-safe outputs.
    Then `pytest tests/` in PATH. Exit 0 when nothing failed, 1 otherwise, 2 for a PATH without
    adapters.
    """
    from .._adapter_check import check_adapter, read_package, run_package_tests

    package = read_package(path)
    sample = _json_object(payload, "--payload") or {}
    config = _json_object(config_json, "--config")
    results = [
        result
        for name in sorted(package.entry_points)
        for result in check_adapter(package, name, payload=sample, config=config)
    ]
    if not no_tests:
        results.append(run_package_tests(package))
    failed = [result for result in results if result.outcome == "fail"]
    if state.mode == "json":
        print_json(
            {
                "package": package.distribution,
                "version": package.version,
                "passed": not failed,
                "checks": [result.to_dict() for result in results],
            }
        )
    else:
        from rich.text import Text

        rows = [
            (r.adapter, r.check, Text(r.outcome.upper(), style=_OUTCOME_STYLE[r.outcome]), r.detail) for r in results
        ]
        print_renderable(make_table(_CHECK_COLUMNS, rows, title=f"{package.distribution} {package.version}"))
        passed = len(results) - len(failed)
        print_line(f"{passed} checks passed, {len(failed)} failed")
    if failed:
        raise click.exceptions.Exit(1)
