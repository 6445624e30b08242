"""Formatting shared by the benchmark reports."""

from __future__ import annotations

from pathlib import Path

__all__ = ("cpu_pressure", "fmt_number")


def cpu_pressure() -> str:
    """CPU pressure while the benchmark ran (Linux PSI), so a contended machine shows in the report."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return ""
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    return f" · CPU pressure (some, avg60) {fields.get('avg60', '?')}%"


def fmt_number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"
