"""Output rules of docs/reference/cli.md: JSON or rich tables, and the table formats for times, durations and sizes.

rich is imported only when a table is printed, so `factflow --help` and JSON mode stay fast.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import click

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.panel import Panel
    from rich.table import Table

__all__ = (
    "Column",
    "OutputMode",
    "detect_mode",
    "dump_json",
    "format_concurrency",
    "format_count",
    "format_duration_ms",
    "format_flag",
    "format_json_inline",
    "format_size",
    "format_time",
    "make_panel",
    "make_table",
    "paging_footer",
    "print_line",
    "print_json",
    "print_renderable",
    "stderr_console",
    "stdout_console",
)

OutputMode = Literal["table", "json"]
OUTPUT_MODES: tuple[OutputMode, ...] = ("table", "json")


def detect_mode(explicit: OutputMode | None) -> OutputMode:
    """`explicit` if given, else tables on a TTY and JSON when stdout is a pipe or a file."""
    if explicit is not None:
        return explicit
    return "table" if sys.stdout.isatty() else "json"


# ---------------------------------------------------------------- JSON


def dump_json(data: Any) -> str:
    """One JSON document: 2-space indent, trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def print_json(data: Any) -> None:
    """Print one JSON document on stdout."""
    click.echo(dump_json(data), nl=False)


# ---------------------------------------------------------------- rich


def stdout_console() -> Console:
    """A console on stdout (colour off with `NO_COLOR`, and when stdout is not a terminal)."""
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False)


def stderr_console() -> Console:
    """A console on stderr, for progress and notes (only on a TTY)."""
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False)


def print_renderable(*renderables: RenderableType) -> None:
    """Print rich renderables (tables, panels, text) on stdout, separated by blank lines.

    A table wider than the terminal (its id and key columns are never cut) is printed at its
    own width rather than squeezed.
    """
    from rich.console import Console

    console = stdout_console()
    unbounded = console.options.update_width(1 << 16)
    needed = max((console.measure(item, options=unbounded).maximum for item in renderables), default=0)
    if needed > console.width:
        console = Console(file=sys.stdout, highlight=False, width=needed)
    for index, renderable in enumerate(renderables):
        if index:
            console.print()
        console.print(renderable)


@dataclass(frozen=True, slots=True)
class Column:
    """A table column.

    `key` columns (ids, keys, paths) are never cut. `text` columns (messages, descriptions)
    take what width is left and are cut with `…`. Other columns hold short values (statuses,
    counts, times) and keep their width up to `SHORT_MAX_WIDTH` characters.
    """

    header: str
    key: bool = False
    text: bool = False
    justify: Literal["left", "right", "center"] = "left"


SHORT_MAX_WIDTH = 24
"""Short columns are cut only past this width."""


def make_table(
    columns: Sequence[Column], rows: Iterable[Sequence[object]], *, title: str | None = None, width: int | None = None
) -> Table:
    """A borderless rich table, columns two spaces apart, bold headers, sized to `width` (default: the terminal).

    A cell is a rich `Text` (styles kept) or any value (printed with `str`, `None` as empty).
    """
    from rich.table import Table
    from rich.text import Text

    # Text, not markup: values such as payload keys may contain `[...]`.
    cells = [
        [value if isinstance(value, Text) else Text("" if value is None else str(value)) for value in row]
        for row in rows
    ]
    widest = [
        max([len(column.header), *(row[index].cell_len for row in cells)]) for index, column in enumerate(columns)
    ]
    widths = _column_widths(columns, widest, width if width is not None else stdout_console().width)
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        header_style="bold",
        box=None,
        padding=(0, _GAP, 0, 0),
        pad_edge=False,
        show_edge=False,
        expand=False,
    )
    for column, column_width in zip(columns, widths, strict=True):
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=True,
            overflow="fold" if column.key else "ellipsis",
            width=column_width,
        )
    for row in cells:
        table.add_row(*row)
    return table


_GAP = 2
_TEXT_MIN_WIDTH = 12


def _column_widths(columns: Sequence[Column], widest: Sequence[int], available: int) -> list[int]:
    widths = [
        width if column.key else min(width, SHORT_MAX_WIDTH) if not column.text else 0
        for column, width in zip(columns, widest, strict=True)
    ]
    text_columns = sorted((index for index, column in enumerate(columns) if column.text), key=lambda i: widest[i])
    remaining = available - sum(widths) - _GAP * (len(columns) - 1)
    # Water-filling: narrow text columns take what they need, wide ones share what is left.
    for position, index in enumerate(text_columns):
        share = remaining // (len(text_columns) - position)
        widths[index] = max(min(widest[index], share), min(widest[index], _TEXT_MIN_WIDTH))
        remaining -= widths[index]
    return widths


def make_panel(rows: Iterable[tuple[str, object]], *, title: str | None = None) -> Panel:
    """A boxed `LABEL  value` panel (one row per field), as the detail views of docs/reference/cli.md show.

    Values are printed with `str` (`None` as empty) or kept as rich renderables; long values wrap
    rather than being cut, so ids and keys stay whole.
    """
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, _GAP))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, value if isinstance(value, Text) else Text("" if value is None else str(value)))
    return Panel(grid, title=title, title_align="left", expand=False)


def print_line(text: str) -> None:
    """Print one plain line of table-mode output on stdout."""
    click.echo(text)


# ---------------------------------------------------------------- table formats


def format_flag(value: object) -> str:
    """`yes`/`no` for booleans, empty for None."""
    if value is None:
        return ""
    return "yes" if value else "no"


def format_count(value: object) -> str:
    """An integer with thousands separators (`1,204`); empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{int(value):,}" if value.is_integer() else f"{value:,.2f}"
    return str(value)


def format_concurrency(value: object) -> str:
    """A route's `concurrency` object as `current/max`; empty when stopped (no object)."""
    if isinstance(value, dict):
        return f"{value.get('current')}/{value.get('max')}"
    return ""


def format_json_inline(value: object) -> str:
    """A compact one-line JSON rendering (conditions, small objects); empty for None."""
    if value is None:
        return ""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def format_time(value: str | datetime | None) -> str:
    """A UTC time as `YYYY-MM-DD HH:MM:SSZ`; RFC 3339 strings are parsed, unparseable ones shown as is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def format_duration_ms(ms: float | None) -> str:
    """`850ms`, `12.3s`, `3m05s`, `2h04m09s`."""
    if ms is None or (isinstance(ms, float) and not math.isfinite(ms)):
        return ""
    if ms < 1000:
        return f"{round(ms)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def format_size(size: int | None) -> str:
    """`512 B`, `12.4 KiB`, `3.0 MiB`, ..."""
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def paging_footer(
    *, offset: int, shown: int, total: int, next_cursor: str | None = None, by_cursor: bool = False
) -> str:
    """`showing 51–100 of 120 (next: --offset 100)` under a paged table.

    A page read with `--cursor` has no known position: `showing 50 of 120 (next: --cursor …)`.
    """
    if by_cursor:
        text = f"showing {shown} of {total}"
        return text + (f" (next: --cursor {next_cursor})" if next_cursor else "")
    if shown == 0:
        return f"showing 0 of {total}"
    end = offset + shown
    text = f"showing {offset + 1}–{end} of {total}"
    if end < total:
        text += f" (next: --offset {end})"
    return text
