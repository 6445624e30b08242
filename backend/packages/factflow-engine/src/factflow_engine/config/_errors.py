"""`ConfigurationError`: a pipeline file with validation errors."""

from __future__ import annotations

from collections.abc import Mapping

from factflow_foundation import FactflowError

from ._issues import ValidationReport

__all__ = ("ConfigurationError",)

_SHOWN_ISSUES = 5


class ConfigurationError(FactflowError):
    """Raised by `PipelineConfigLoader.load` / `load_directory` when validation found errors.

    Args:
        report: Every issue found (for `load_directory`, the issues of all failing files).
        source: The file the report is about, when known.
        file_reports: For `load_directory`: each failing file's own report, by path.
    """

    default_code = "config_invalid"

    def __init__(
        self,
        report: ValidationReport,
        *,
        source: str | None = None,
        file_reports: Mapping[str, ValidationReport] | None = None,
    ) -> None:
        self.report = report
        self.source = source
        self.file_reports: dict[str, ValidationReport] = dict(file_reports or {})
        super().__init__(
            _summary(report, source, self.file_reports),
            context={"error_count": report.error_count, "warning_count": report.warning_count},
        )


def _summary(report: ValidationReport, source: str | None, file_reports: Mapping[str, ValidationReport]) -> str:
    where = f"{source!r}" if source else "The pipeline config"
    if file_reports:
        where = f"{len(file_reports)} pipeline file(s) ({', '.join(sorted(file_reports))})"
    details = []
    for issue in report.errors[:_SHOWN_ISSUES]:
        at = f" at {issue.path or '<document>'}" + (f" (line {issue.line})" if issue.line is not None else "")
        details.append(f"{issue.code}{at}: {issue.message}")
    more = report.error_count - len(details)
    suffix = f"; and {more} more" if more > 0 else ""
    noun = "error" if report.error_count == 1 else "errors"
    return f"{where} has {report.error_count} validation {noun}: " + "; ".join(details) + suffix
