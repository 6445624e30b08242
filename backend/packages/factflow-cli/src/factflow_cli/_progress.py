"""The one-line progress display of `execution wait` on a terminal's stderr (docs/reference/cli.md)."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from factflow_protocols import JSONObject


__all__ = ("REDRAW_INTERVAL_SECONDS", "ProgressLine")

REDRAW_INTERVAL_SECONDS = 0.25
"""At most four redraws a second."""

_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_COUNTERS = (
    ("published", "published"),
    ("handled", "handled"),
    ("in_flight", "in flight"),
    ("dead_lettered", "dead-lettered"),
)


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _clock(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


class ProgressLine:
    """`⠙ running 00:02:31 │ published 1,204 │ handled 1,150 │ in flight 54 │ dead-lettered 0`.

    Events update the state; `run()` redraws it in place (carriage return, erase to end of line) every
    250 ms until cancelled, and `clear()` removes it.

    Args:
        stream: The terminal to draw on (stderr).
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._frame = 0
        self._drawn = False
        self.status = "running"
        self.counters: JSONObject = {}
        self._started: float | None = None
        self._ended: float | None = None
        self._first_seen = time.time()
        self._updated = False

    def update(self, data: JSONObject) -> None:
        """Take what an `execution.snapshot`, `execution.progress` or `execution.status` event says."""
        self._updated = True
        execution = data.get("execution")
        if isinstance(execution, dict):
            self._started = _parse_time(execution.get("started_at")) or self._started
            self._ended = _parse_time(execution.get("completed_at"))
            self.status = str(execution.get("status") or self.status)
        counts = data.get("message_counts")
        if isinstance(counts, dict):
            self.counters.update(counts)
        for key, _label in _COUNTERS:
            if key in data:
                self.counters[key] = data[key]
        if isinstance(data.get("status"), str):
            self.status = data["status"]

    def render(self) -> str:
        """The line as it is drawn now."""
        now = self._ended or time.time()
        elapsed = now - (self._started if self._started is not None else self._first_seen)
        parts = [f"{_FRAMES[self._frame % len(_FRAMES)]} {self.status} {_clock(elapsed)}"]
        for key, label in _COUNTERS:
            value = self.counters.get(key)
            parts.append(f"{label} {value:,}" if isinstance(value, int) else f"{label} -")
        return " │ ".join(parts)

    def draw(self) -> None:
        """Redraw the line once (cut to the terminal width so it never wraps); nothing before the first event."""
        if not self._updated:
            return
        self._frame += 1
        text = self.render()
        try:
            width = os.get_terminal_size(self._stream.fileno()).columns
        except (OSError, ValueError):
            width = 0
        if width > 1 and len(text) >= width:
            text = text[: width - 2] + "…"
        self._stream.write("\r" + text + "\x1b[K")
        self._stream.flush()
        self._drawn = True

    def clear(self) -> None:
        """Erase the line (when one was drawn)."""
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False

    async def run(self) -> None:
        """Redraw every 250 ms until cancelled."""
        while True:
            self.draw()
            await asyncio.sleep(REDRAW_INTERVAL_SECONDS)
