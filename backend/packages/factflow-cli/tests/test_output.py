from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from rich.console import Console
from rich.text import Text

from factflow_cli._output import (
    Column,
    dump_json,
    format_concurrency,
    format_duration_ms,
    format_size,
    format_time,
    make_table,
    paging_footer,
)


def test_json_is_two_space_indented_with_a_trailing_newline() -> None:
    text = dump_json({"b": [1, {"c": None}], "a": "ø"})
    assert text == '{\n  "b": [\n    1,\n    {\n      "c": null\n    }\n  ],\n  "a": "ø"\n}\n'
    assert json.loads(text) == {"b": [1, {"c": None}], "a": "ø"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-01T09:30:12.345678Z", "2025-03-01 09:30:12Z"),
        ("2025-03-01T10:30:12+01:00", "2025-03-01 09:30:12Z"),
        (datetime(2025, 3, 1, 9, 30, 12, tzinfo=UTC), "2025-03-01 09:30:12Z"),
        (datetime(2025, 3, 1, 11, 30, 12, tzinfo=timezone(timedelta(hours=2))), "2025-03-01 09:30:12Z"),
        (None, ""),
        ("not a time", "not a time"),
    ],
)
def test_times_are_utc(value: str | datetime | None, expected: str) -> None:
    assert format_time(value) == expected


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (0, "0ms"),
        (850, "850ms"),
        (999.4, "999ms"),
        (1000, "1.0s"),
        (12_345, "12.3s"),
        (185_000, "3m05s"),
        (7_449_000, "2h04m09s"),
        (None, ""),
    ],
)
def test_durations(ms: float | None, expected: str) -> None:
    assert format_duration_ms(ms) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (12_697, "12.4 KiB"),
        (3 * 1024**2, "3.0 MiB"),
        (5 * 1024**4, "5.0 TiB"),
        (None, ""),
    ],
)
def test_sizes(size: int | None, expected: str) -> None:
    assert format_size(size) == expected


def test_concurrency_is_current_over_max_and_empty_when_stopped() -> None:
    assert format_concurrency({"current": 3, "max": 8}) == "3/8"
    assert format_concurrency(None) == ""


def test_paging_footer() -> None:
    assert paging_footer(offset=0, shown=50, total=120) == "showing 1–50 of 120 (next: --offset 50)"
    assert paging_footer(offset=100, shown=20, total=120) == "showing 101–120 of 120"
    assert paging_footer(offset=200, shown=0, total=120) == "showing 0 of 120"


def render(width: int, rows: list[tuple[object, ...]]) -> list[str]:
    columns = (Column("ID", key=True), Column("STATUS"), Column("MESSAGE", text=True))
    buffer = io.StringIO()
    Console(file=buffer, width=width, highlight=False).print(make_table(columns, rows, width=width))
    return [line.rstrip() for line in buffer.getvalue().splitlines()]


def test_key_columns_are_never_cut_and_text_is_cut_with_an_ellipsis() -> None:
    key = "0193c5a0-7f4e-7c3b-9a1e-2f0d4c8b6a10"
    lines = render(60, [(key, "running", "x" * 200), ("short", None, Text("[not markup]"))])
    assert lines[0].split() == ["ID", "STATUS", "MESSAGE"]
    assert lines[1].startswith(f"{key}  running  x")
    assert lines[1].endswith("…")
    assert len(lines[1]) <= 60
    assert "[not markup]" in lines[2]


def test_columns_are_two_spaces_apart_without_borders() -> None:
    lines = render(80, [("a1", "ok", "fine")])
    assert lines == ["ID  STATUS  MESSAGE", "a1  ok      fine"]
