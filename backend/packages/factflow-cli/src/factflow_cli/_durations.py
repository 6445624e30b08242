"""The duration grammar of `--timeout` and friends: `250ms`, `30s`, `5m`, `1h30m`, or bare seconds."""

from __future__ import annotations

import re

import click

__all__ = ("Duration", "parse_duration")

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PART = re.compile(rf"({_NUMBER})(ms|s|m|h)")
_SEQUENCE = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h))+")
_BARE = re.compile(_NUMBER)


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `250ms`, `30s`, `5m`, `1h`, `1h30m` or `12` (seconds).

    Raises:
        ValueError: the text is not a duration, or it is zero.
    """
    value = text.strip()
    if _BARE.fullmatch(value):
        seconds = float(value)
    elif _SEQUENCE.fullmatch(value):
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(value))
    else:
        raise ValueError(f"{text!r} is not a duration; use e.g. 250ms, 30s, 5m, 1h30m or a number of seconds")
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return seconds


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic only since click 8.2; we support 8.1
    """A click parameter holding a duration, converted to seconds; a bad value is a usage error (exit 2)."""

    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(f"{value!r} is not a duration", param, ctx)
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
