from __future__ import annotations

import json
import logging

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


def test_unknown_context_field_is_refused() -> None:
    with pytest.raises(ValueError), log_context(tenant="x"):
        pass
