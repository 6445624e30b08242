"""Validation findings: `ValidationIssue` and `ValidationReport` (docs/reference/pipeline-yaml.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ("Severity", "ValidationIssue", "ValidationReport")

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One finding of the validator."""

    severity: Severity
    code: str
    """Stable code such as `E103` or `W501`."""
    path: str
    """Keys joined by `.`, list positions as `[n]`; `""` is the whole document."""
    message: str
    """One sentence naming the offending value."""
    suggestion: str
    """A deterministic fix."""
    line: int | None = None
    """1-based, when known."""
    column: int | None = None
    """1-based, when known."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "suggestion": self.suggestion,
        }


def _position_key(issue: ValidationIssue) -> tuple[int, int, str]:
    # Issues without a position sort after positioned ones of the same severity.
    return (issue.line if issue.line is not None else 1 << 30, issue.column or 0, issue.code)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """All findings for one document, errors first, each group by source position then code."""

    issues: tuple[ValidationIssue, ...] = field(default_factory=tuple)

    @classmethod
    def from_issues(cls, issues: Iterable[ValidationIssue]) -> ValidationReport:
        unique = list(dict.fromkeys(issues))
        errors = sorted((i for i in unique if i.severity == "error"), key=_position_key)
        warnings = sorted((i for i in unique if i.severity == "warning"), key=_position_key)
        return cls(issues=tuple(errors + warnings))

    @property
    def errors(self) -> tuple[ValidationIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[ValidationIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def error_count(self) -> int:
        return len(self.errors)

    @property
    def warning_count(self) -> int:
        return len(self.warnings)

    @property
    def is_valid(self) -> bool:
        """True when there are no errors; warnings never make it false."""
        return self.error_count == 0

    @property
    def is_parse_failure(self) -> bool:
        """True when the document could not be parsed (an E001–E009 issue)."""
        return any(i.code < "E010" and i.code.startswith("E0") for i in self.errors)

    def codes(self) -> list[str]:
        return [i.code for i in self.issues]

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_valid": self.is_valid,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "issues": [issue.to_dict() for issue in self.issues],
        }
