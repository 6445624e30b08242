"""`PipelineConfigLoader`, the validation mode, and single-route validation (§8, docs/guides/writing-adapters.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from factflow_foundation import get_settings

from ._build import build_config
from ._errors import ConfigurationError
from ._issues import ValidationIssue, ValidationReport
from ._models import PipelineGlobalConfig
from ._ports import AdapterConfigChecker
from ._positions import PositionMap
from ._validator import validate_document, validate_route_mapping
from ._yaml import parse_document

__all__ = (
    "LoadedPipeline",
    "PipelineConfigLoader",
    "configure_validation",
    "is_strict_validation",
    "validate_route_config",
)

logger = logging.getLogger(__name__)

YAML_SUFFIXES = (".yaml", ".yml")

_strict_override: bool | None = None


def configure_validation(strict: bool | None) -> None:
    """Set the process-wide validation mode.

    Args:
        strict: True: any error in a start-up file aborts start-up. False: errors are logged
            and the file is registered as not runnable. None: back to the default, read from
            `FACTFLOW_CONFIG_VALIDATOR_STRICT` (default `1`).
    """
    global _strict_override
    _strict_override = strict


def is_strict_validation() -> bool:
    """The current validation mode (see `configure_validation`)."""
    if _strict_override is not None:
        return _strict_override
    return bool(get_settings().config_validator_strict)


@dataclass(frozen=True, slots=True)
class LoadedPipeline:
    """One file read by `PipelineConfigLoader.load_directory`."""

    path: Path
    """The file."""
    name: str
    """The document's `name`, else the file stem."""
    report: ValidationReport
    """Every issue found in the file."""
    config: PipelineGlobalConfig | None
    """The parsed config; None when the report has errors."""
    yaml_text: str | None
    """The file's text (BOM stripped); None when it is not UTF-8."""

    @property
    def is_runnable(self) -> bool:
        """True when the file has no validation errors."""
        return self.report.is_valid


@dataclass(frozen=True, slots=True)
class _Outcome:
    report: ValidationReport
    config: PipelineGlobalConfig | None
    declared_name: str | None


class PipelineConfigLoader:
    """Validates pipeline YAML and builds `PipelineGlobalConfig` from it.

    Args:
        registry: Checks adapter types and their `config` (E103, E107, E3xx). With None,
            adapter types and configs are not checked.

    Example:
        >>> PipelineConfigLoader().validate("version: 1.0").codes()
        ['E012', 'E021', 'W503']
    """

    def __init__(self, registry: AdapterConfigChecker | None = None) -> None:
        self._registry = registry

    @property
    def registry(self) -> AdapterConfigChecker | None:
        """The adapter checker in use."""
        return self._registry

    def validate(self, text: str | bytes) -> ValidationReport:
        """Every issue in one pipeline file. Never raises.

        Args:
            text: The YAML, as text or as the file's bytes (which must be UTF-8).
        """
        return self._run(text, build=False).report

    def load(self, text: str | bytes, *, default_name: str | None = None) -> PipelineGlobalConfig:
        """Validate and build the config, with every default filled in.

        Args:
            text: The YAML, as text or bytes.
            default_name: The pipeline name when the document has none (e.g. the file stem).

        Raises:
            ConfigurationError: The report has at least one error (`.report` holds it).
        """
        outcome = self._run(text, build=True, default_name=default_name)
        if outcome.config is None:
            raise ConfigurationError(outcome.report)
        return outcome.config

    def load_directory(self, path: str | Path, *, strict: bool | None = None) -> list[LoadedPipeline]:
        """Validate every `*.yaml` / `*.yml` file directly in `path`, in name order.

        Every issue is logged as a warning. In strict mode any error raises one combined
        `ConfigurationError`; in warn-only mode every file is returned with its report (and a
        config only when it has no errors). Blocking file I/O: call it through
        `asyncio.to_thread` from async code.

        Args:
            path: The directory (e.g. `FACTFLOW_PIPELINES_DIR`).
            strict: Overrides the process mode (`is_strict_validation()`) for this call.

        Raises:
            FileNotFoundError: `path` does not exist.
            NotADirectoryError: `path` is not a directory.
            ConfigurationError: Strict mode and at least one file has errors.
        """
        directory = Path(path)
        if not directory.exists():
            raise FileNotFoundError(f"Pipeline directory {str(directory)!r} does not exist.")
        if not directory.is_dir():
            raise NotADirectoryError(f"Pipeline path {str(directory)!r} is not a directory.")
        strict_mode = is_strict_validation() if strict is None else strict
        files = sorted(
            entry for entry in directory.iterdir() if entry.is_file() and entry.suffix.lower() in YAML_SUFFIXES
        )
        results = [self._load_file(file) for file in files]
        for result in results:
            for issue in result.report.issues:
                logger.warning(
                    "%s:%s: %s %s at %r: %s %s",
                    result.path,
                    issue.line if issue.line is not None else "-",
                    issue.severity,
                    issue.code,
                    issue.path,
                    issue.message,
                    issue.suggestion,
                )
        failing = [result for result in results if not result.report.is_valid]
        if strict_mode and failing:
            errors = [issue for result in failing for issue in result.report.errors]
            warnings = [issue for result in failing for issue in result.report.warnings]
            raise ConfigurationError(
                ValidationReport(issues=tuple(errors + warnings)),
                file_reports={str(result.path): result.report for result in failing},
            )
        return results

    def _load_file(self, file: Path) -> LoadedPipeline:
        data = file.read_bytes()
        outcome = self._run(data, build=True, default_name=file.stem)
        try:
            text: str | None = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            text = None
        name = outcome.config.name if outcome.config is not None else outcome.declared_name
        return LoadedPipeline(file, name or file.stem, outcome.report, outcome.config, text)

    def _run(self, text: str | bytes, *, build: bool, default_name: str | None = None) -> _Outcome:
        try:
            return self._run_unguarded(text, build=build, default_name=default_name)
        except Exception as exc:  # `validate` never raises: a validator bug becomes an issue
            logger.exception("The pipeline validator failed")
            issue = ValidationIssue(
                "error",
                "E001",
                "",
                f"The validator failed unexpectedly ({type(exc).__name__}).",
                "Report this file to the factflow maintainers.",
            )
            return _Outcome(ValidationReport.from_issues([issue]), None, None)

    def _run_unguarded(self, text: str | bytes, *, build: bool, default_name: str | None) -> _Outcome:
        document, parse_issues = parse_document(text)
        if document is None:
            return _Outcome(ValidationReport.from_issues(parse_issues), None, None)
        collector = validate_document(document.value, registry=self._registry)
        report = ValidationReport.from_issues(document.positions.fill_all(collector.issues))
        declared = document.value.get("name")
        declared_name = declared if isinstance(declared, str) and declared else None
        if not build or not report.is_valid:
            return _Outcome(report, None, declared_name)
        try:
            config = build_config(document.value, default_name=default_name)
        except ValidationError as exc:
            # The validator is meant to be stricter than the models; report the gap, don't crash.
            logger.error("Validated pipeline rejected by the models: %s", exc)
            issues = [_model_issue(error, document.positions) for error in exc.errors()]
            return _Outcome(ValidationReport.from_issues(issues), None, declared_name)
        return _Outcome(report, config, declared_name)


def _model_issue(error: Any, positions: PositionMap) -> ValidationIssue:
    path = ""
    for part in error.get("loc", ()):
        path = f"{path}[{part}]" if isinstance(part, int) else (f"{path}.{part}" if path else str(part))
    issue = ValidationIssue("error", "E030", path, f"{path or 'The document'}: {error.get('msg')}.", "Fix the value.")
    return positions.fill(issue)


def validate_route_config(
    route_id: str, mapping: Mapping[str, Any] | object, registry: AdapterConfigChecker | None = None
) -> ValidationReport:
    """Check one route mapping on its own.

    Uses the top-level policy defaults and skips E106, E202 and every warning. Issue paths
    start with `routes.<route_id>`; there are no line numbers. Never raises.

    Args:
        route_id: The route id (checked too, E101).
        mapping: The route as a raw mapping (as parsed from YAML or JSON).
        registry: Checks adapter types and configs; None skips them.
    """
    try:
        collector = validate_route_mapping(route_id, mapping, registry=registry)
    except Exception as exc:  # never raises, like `PipelineConfigLoader.validate`
        logger.exception("The route validator failed")
        issue = ValidationIssue(
            "error",
            "E001",
            f"routes.{route_id}",
            f"The validator failed unexpectedly ({type(exc).__name__}).",
            "Report this route to the factflow maintainers.",
        )
        return ValidationReport.from_issues([issue])
    return ValidationReport.from_issues(collector.issues)
