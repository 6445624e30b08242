from __future__ import annotations

import pytest
from click.testing import CliRunner

from factflow_cli._durations import parse_duration
from factflow_cli.main import cli


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1m30s500ms", 90.5),
        ("1.5s", 1.5),
        ("12", 12),
        ("0.5", 0.5),
        (" 2s ", 2),
    ],
)
def test_valid_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["0", "0s", "0ms", "-1", "-5s", "abc", "5x", "", "1h30", "s", "1 h", "ms5"])
def test_invalid_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", ["0", "-3s", "soon"])
def test_bad_timeout_is_a_usage_error(value: str) -> None:
    result = CliRunner().invoke(cli, ["--timeout", value, "config", "validate", "."])
    assert result.exit_code == 2
    assert "--timeout" in result.stderr
    assert result.stdout == ""
