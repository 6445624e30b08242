"""The catalogue of validation codes (docs/reference/pipeline-yaml.md), and the generator of its docs.

`python -m factflow_engine.config.codes --write docs/reference/error-codes.md` renders the
reference page from this catalogue (`make docs` runs exactly that); `--check PATH` exits 1
when the file differs from what would be rendered.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from ._catalogue_policies import CONDITION_AND_POLICY_CODES
from ._catalogue_queues import QUEUE_AND_CONFIG_CODES
from ._catalogue_structure import STRUCTURE_CODES
from ._catalogue_warnings import WARNING_CODES
from ._code_info import GROUPS, CodeInfo

__all__ = ("CODES", "CodeInfo", "get_code", "main", "render_markdown")

CODES: Mapping[str, CodeInfo] = MappingProxyType(
    {
        info.code: info
        for info in (*STRUCTURE_CODES, *QUEUE_AND_CONFIG_CODES, *CONDITION_AND_POLICY_CODES, *WARNING_CODES)
    }
)
"""Every code, in catalogue order (`E001` … `W507`)."""


def get_code(code: str) -> CodeInfo:
    """The catalogue entry of `code`.

    Raises:
        KeyError: `code` is not in the catalogue.
    """
    return CODES[code]


_INTRO = """\
# Validation codes

<!-- Generated from factflow_engine/config/codes.py by `make docs`. Do not edit by hand. -->

Every finding of the pipeline validator carries a stable code. `E…` codes are **errors**: a
pipeline with any of them cannot run. `W…` codes are **warnings**: they never block start-up or a
run. Each issue also has a `path` (`routes.scrape.adapters[2].config.timeout`; `""` is the whole
document), a one-sentence `message`, a deterministic `suggestion`, and the 1-based `line` and
`column` where the path is written (an issue about a missing key points at the mapping that lacks
it). Issues are listed errors first, then warnings, each group by position in the file.

E001–E008 mean the file could not be read as a pipeline at all ("unparseable"): the API refuses to
store such a file, and nothing else is checked until they are fixed. All other checks run together,
so one pass reports every problem; a broken section only hides the checks that depend on it.

The key reference is [pipeline-yaml.md](pipeline-yaml.md). Every example below is checked by the
test suite: the broken file produces the code at the path shown, and the fixed file validates
without any issue.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _reported_at(info: CodeInfo) -> str:
    shown = f"`{info.path}`" if info.path else '`""` (the whole document)'
    if info.reported_at:
        return f"{info.reported_at}; here {shown}"
    return shown


def _fence(text: str) -> list[str]:
    return ["```yaml", text.rstrip("\n"), "```"]


def _details(info: CodeInfo) -> list[str]:
    lines = [
        f"### {info.code}",
        "",
        f"**{info.trigger}.** Severity: {info.severity}. Reported at: {_reported_at(info)}.",
        "",
        f"Sample suggestion: `{info.suggestion}`",
        "",
    ]
    if info.note:
        lines += [info.note, ""]
    broken = "Broken (abbreviated):" if info.excerpt else "Broken:"
    if info.example_encoding != "utf-8":
        broken = f"Broken (saved as {info.example_encoding}):"
    lines += [broken, "", *_fence(info.example), ""]
    if info.fix is not None:
        lines += ["Fixed:", "", *_fence(info.fix), ""]
    return lines


def render_markdown(codes: Sequence[CodeInfo] | None = None) -> str:
    """The Markdown reference page of every code."""
    entries = list(codes if codes is not None else CODES.values())
    lines = [_INTRO.rstrip("\n"), "", "## Summary", ""]
    for prefix, heading in GROUPS.items():
        group = [info for info in entries if info.code.startswith(prefix)]
        if not group:
            continue
        lines += [f"### {heading}", "", "| Code | Trigger | Sample suggestion |", "|---|---|---|"]
        lines += [
            f"| [{info.code}](#{info.code.lower()}) | {_cell(info.trigger)} | `{_cell(info.suggestion)}` |"
            for info in group
        ]
        lines.append("")
    lines += ["## Codes", ""]
    for info in entries:
        lines += _details(info)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Render the reference page to stdout, `--write` it to a file, or `--check` a file."""
    parser = argparse.ArgumentParser(prog="python -m factflow_engine.config.codes", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="PATH", type=Path, help="write the Markdown reference to PATH")
    group.add_argument("--check", metavar="PATH", type=Path, help="exit 1 when PATH differs from the rendering")
    args = parser.parse_args(argv)
    rendered = render_markdown()
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(rendered, encoding="utf-8")
        return 0
    if args.check is not None:
        current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
        if current != rendered:
            print(f"{args.check} is out of date; run `make docs`.", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(rendered)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
