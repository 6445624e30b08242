"""Where each path of a pipeline file is written (1-based line and column)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from ._issues import ValidationIssue

__all__ = ("PositionMap", "parent_path")


def parent_path(path: str) -> str | None:
    """The enclosing path (`a.b[2].c` → `a.b[2]` → `a.b` → `a` → `""`), or None for the root."""
    if not path:
        return None
    if path.endswith("]"):
        opening = path.rfind("[")
        if opening > 0:
            return path[:opening]
    dot = path.rfind(".")
    return path[:dot] if dot >= 0 else ""


class PositionMap:
    """Maps issue paths to source positions.

    A path without a recorded position takes the position of its nearest recorded ancestor, so
    an issue about a missing key points at the mapping that lacks it.
    """

    __slots__ = ("_positions",)

    def __init__(self, positions: Mapping[str, tuple[int, int]] | None = None) -> None:
        self._positions = dict(positions or {})

    def exact(self, path: str) -> tuple[int, int] | None:
        """The position recorded for exactly `path`."""
        return self._positions.get(path)

    def locate(self, path: str) -> tuple[int, int] | None:
        """The position of `path`, or of its nearest recorded ancestor."""
        current: str | None = path
        while current is not None:
            position = self._positions.get(current)
            if position is not None:
                return position
            current = parent_path(current)
        return None

    def fill(self, issue: ValidationIssue) -> ValidationIssue:
        """`issue` with `line`/`column` set from the map when it has none."""
        if issue.line is not None:
            return issue
        position = self.locate(issue.path)
        if position is None:
            return issue
        return dataclasses.replace(issue, line=position[0], column=position[1])

    def fill_all(self, issues: Iterable[ValidationIssue]) -> list[ValidationIssue]:
        """`fill` applied to every issue."""
        return [self.fill(issue) for issue in issues]

    def __len__(self) -> int:
        return len(self._positions)

    def __contains__(self, path: object) -> bool:
        return path in self._positions
