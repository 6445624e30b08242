from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Literal

import pytest

from factflow_foundation import configure_logging, get_logger, log_context


def test_json_records_carry_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("INFO", "json")
        with log_context(execution_id="E1", route_id="scrape"):
            get_logger("factflow.test").info("processed %d messages", 3)
        get_logger("factflow.test").info("outside")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert lines[0]["message"] == "processed 3 messages"
    assert lines[0]["execution_id"] == "E1"
    assert lines[0]["route_id"] == "scrape"
    assert lines[0]["level"] == "INFO"
    assert lines[1]["execution_id"] is None


def test_nested_contexts_add_fields_and_restore_the_outer_ones(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logger = get_logger("factflow.test")
    try:
        configure_logging("INFO", "json")
        with log_context(execution_id="E1", route_id="scrape"):
            with log_context(route_id="index", stage="embed"):
                logger.info("inner")
            logger.info("outer")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert [(line["execution_id"], line["route_id"], line["stage"]) for line in lines] == [
        ("E1", "index", "embed"),
        ("E1", "scrape", None),
    ]


def test_unknown_context_field_is_refused() -> None:
    with pytest.raises(ValueError), log_context(tenant="x"):
        pass


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _log_one(stream: io.StringIO, fmt: Literal["auto", "json", "console"]) -> str:
    configure_logging("INFO", fmt, stream=stream)
    with log_context(execution_id="E1"):
        get_logger("factflow.test").warning("slow route %s", "scrape")
    return stream.getvalue()


@pytest.mark.usefixtures("restore_root")
def test_auto_is_coloured_console_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    text = _log_one(_Terminal(), "auto")
    assert "\x1b[33mWARNING" in text  # the level in yellow
    assert "slow route scrape" in text and "execution_id=E1" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.usefixtures("restore_root")
def test_auto_is_json_when_not_a_terminal() -> None:
    record = json.loads(_log_one(io.StringIO(), "auto"))
    assert record["message"] == "slow route scrape"
    assert record["level"] == "WARNING"


@pytest.mark.usefixtures("restore_root")
def test_no_color_keeps_the_console_format_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    text = _log_one(_Terminal(), "auto")
    assert "\x1b[" not in text
    assert "WARNING factflow.test: slow route scrape [execution_id=E1]" in text


@pytest.mark.usefixtures("restore_root")
def test_forced_formats_win_over_the_terminal_check() -> None:
    assert json.loads(_log_one(_Terminal(), "json"))["message"] == "slow route scrape"
    plain = _log_one(io.StringIO(), "console")
    assert "WARNING factflow.test: slow route scrape" in plain and "\x1b[" not in plain
