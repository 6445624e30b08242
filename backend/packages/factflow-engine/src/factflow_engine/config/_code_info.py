"""One entry of the code catalogue (see `codes.py`)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Literal

__all__ = ("GROUPS", "CodeInfo", "yaml")

GROUPS: dict[str, str] = {
    "E0": "E0xx — syntax and document structure",
    "E1": "E1xx — routes, adapters, references",
    "E2": "E2xx — queues and topology",
    "E3": "E3xx — adapter `config`",
    "E4": "E4xx — conditions",
    "E5": "E5xx — policies",
    "W5": "W5xx — warnings",
}


def yaml(text: str) -> str:
    """Dedent a YAML literal and drop its first newline."""
    return textwrap.dedent(text).lstrip("\n")


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """A validation code: what triggers it, its sample fix, and a worked example for the docs."""

    code: str
    """`E001` … `W507`."""
    trigger: str
    """When the code is reported (docs/reference/pipeline-yaml.md)."""
    suggestion: str
    """The specification's sample suggestion."""
    example: str
    """A small broken pipeline that triggers the code."""
    path: str
    """Where the example's issue is reported."""
    fix: str | None
    """The same pipeline fixed (no issues at all), or None when the fix is not in the YAML."""
    reported_at: str | None = None
    """Where the code is reported when that is not the offending key itself."""
    note: str = ""
    """More explanation for the docs (Markdown)."""
    excerpt: bool = False
    """The example is abbreviated for the docs and cannot be validated as shown."""
    example_encoding: str = "utf-8"
    """How the example is saved (E007 uses Latin-1)."""

    @property
    def severity(self) -> Literal["error", "warning"]:
        """`warning` for `W…` codes, else `error`."""
        return "warning" if self.code.startswith("W") else "error"

    @property
    def group(self) -> str:
        """The heading of the code's family."""
        return GROUPS[self.code[:2]]
