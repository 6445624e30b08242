"""`config validate`: collecting files, validating them locally or on the server, printing the results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._client import run_async
from ._errors import CliError
from ._exit_codes import ExitCode
from ._output import Column, OutputMode, make_table, print_json, print_renderable
from ._state import CliState

if TYPE_CHECKING:
    from factflow_protocols import JSONObject

__all__ = ("FileResult", "collect_yaml_files", "print_results", "validate_local", "validate_remote")

YAML_SUFFIXES = (".yaml", ".yml")

_SUMMARY_COLUMNS = (Column("FILE", key=True), Column("RESULT"), Column("ERRORS"), Column("WARNINGS"))
_ISSUE_COLUMNS = (
    Column("SEVERITY"),
    Column("CODE"),
    Column("PATH", key=True),
    Column("LINE"),
    Column("MESSAGE", text=True),
    Column("SUGGESTION", text=True),
)


@dataclass(frozen=True, slots=True)
class FileResult:
    """The validation report of one file, in its JSON form (docs/reference/http-api-endpoints.md ValidationReport)."""

    path: str
    report: Mapping[str, Any]

    @property
    def issues(self) -> list[Mapping[str, Any]]:
        return list(self.report.get("issues", []))

    @property
    def error_count(self) -> int:
        return int(self.report.get("error_count", 0))

    @property
    def warning_count(self) -> int:
        return int(self.report.get("warning_count", 0))

    def to_dict(self) -> JSONObject:
        return {
            "path": self.path,
            "is_valid": self.error_count == 0,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "issues": self.issues,
        }


def collect_yaml_files(path: Path) -> list[Path]:
    """`path` itself, or every `*.yaml`/`*.yml` file below the directory, in path order.

    Raises:
        CliError: exit 2 when `path` does not exist or the directory holds no YAML file.
    """
    if path.is_file():
        return [path]
    if path.is_dir():
        files = [item for item in path.rglob("*") if item.suffix in YAML_SUFFIXES and item.is_file()]
        if not files:
            raise CliError(f"no *.yaml or *.yml files below {str(path)!r}", exit_code=ExitCode.USAGE)
        return sorted(files, key=lambda item: item.relative_to(path).parts)
    if not path.exists():
        raise CliError(f"{str(path)!r} does not exist", exit_code=ExitCode.USAGE)
    raise CliError(f"{str(path)!r} is neither a file nor a directory", exit_code=ExitCode.USAGE)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {str(path)!r} ({exc.strerror or exc})") from exc


def validate_local(files: Sequence[Path]) -> list[FileResult]:
    """Validate with the engine and the adapters of the `factflow.adapters` entry points installed here."""
    from factflow_engine.config import PipelineConfigLoader
    from factflow_engine.registry import ValidatingAdapterRegistry

    loader = PipelineConfigLoader(ValidatingAdapterRegistry().auto_discover_and_register())
    return [FileResult(str(path), loader.validate(_read(path)).to_dict()) for path in files]


def validate_remote(state: CliState, files: Sequence[Path]) -> list[FileResult]:
    """Validate each file with `POST /configs/validate` (same validator and registry as the server's run-gate)."""
    return run_async(_validate_remote(state, files))


async def _validate_remote(state: CliState, files: Sequence[Path]) -> list[FileResult]:
    results = []
    async with state.client() as api:
        for path in files:
            try:
                text = _read(path).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CliError(f"{str(path)!r} is not UTF-8; save it as UTF-8 to validate it with --remote") from exc
            report = await api.post_json("/configs/validate", {"config_yaml": text})
            if not isinstance(report, Mapping) or not isinstance(report.get("issues"), list):
                raise CliError(f"the server's answer for {str(path)!r} is not a validation report")
            results.append(FileResult(str(path), report))
    return results


def print_results(results: Sequence[FileResult], mode: OutputMode) -> None:
    """JSON `{is_valid, error_count, warning_count, files}`, or a summary table plus one issue table per file."""
    if mode == "json":
        print_json(
            {
                "is_valid": all(result.error_count == 0 for result in results),
                "error_count": sum(result.error_count for result in results),
                "warning_count": sum(result.warning_count for result in results),
                "files": [result.to_dict() for result in results],
            }
        )
        return
    from rich.text import Text

    summary = make_table(
        _SUMMARY_COLUMNS,
        [
            (
                result.path,
                Text("valid", style="green") if result.error_count == 0 else Text("invalid", style="bold red"),
                result.error_count,
                result.warning_count,
            )
            for result in results
        ],
    )
    tables = [summary]
    for result in results:
        if result.issues:
            rows = [
                (
                    Text(str(issue.get("severity", "")), style="red" if issue.get("severity") == "error" else "yellow"),
                    issue.get("code"),
                    issue.get("path"),
                    issue.get("line"),
                    issue.get("message"),
                    issue.get("suggestion"),
                )
                for issue in result.issues
            ]
            tables.append(make_table(_ISSUE_COLUMNS, rows, title=result.path))
    print_renderable(*tables)
