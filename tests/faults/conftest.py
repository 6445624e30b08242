"""Prints what the fault scenarios measured at the end of the run (also the `make soak` table)."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path

import pytest

from ._harness import REPORT_ENV, FaultRecord

_GOAL_MARGIN_SECONDS = 5.0
"""Recovery goal: the undisturbed time for the remaining work plus this."""


def _row(scenario: str, runs: list[FaultRecord]) -> str:
    passed = sum(record.passed for record in runs)
    measured = [record for record in runs if record.recovery_seconds is not None]
    if not measured:
        return f"{scenario:<20} {passed:>3}/{len(runs):<3}"
    recovery = [record.recovery_seconds or 0.0 for record in measured]
    remaining = [record.remaining_work_seconds or 0.0 for record in measured]
    within = sum(
        (record.recovery_seconds or 0.0) <= (record.remaining_work_seconds or 0.0) + _GOAL_MARGIN_SECONDS
        for record in measured
    )
    return (
        f"{scenario:<20} {passed:>3}/{len(runs):<3} "
        f"{statistics.median(recovery):>8.2f} {max(recovery):>8.2f} "
        f"{statistics.median(remaining):>10.2f} {within:>4}/{len(measured):<4}"
    )


_created_report: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    # Runs write their records here, so the table also covers runs made by xdist workers.
    if not os.environ.get(REPORT_ENV) and not hasattr(config, "workerinput"):
        handle, path = tempfile.mkstemp(prefix="factflow-faults-", suffix=".jsonl")
        os.close(handle)
        os.environ[REPORT_ENV] = path
        _created_report.append(path)


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _created_report:
        Path(path).unlink(missing_ok=True)
        os.environ.pop(REPORT_ENV, None)
    _created_report.clear()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = os.environ.get(REPORT_ENV)
    if not report or not Path(report).exists():
        return
    lines = Path(report).read_text(encoding="utf-8").splitlines()
    collected = [FaultRecord(**json.loads(line)) for line in lines if line.strip()]
    if not collected:
        return
    by_scenario: dict[str, list[FaultRecord]] = {}
    for record in collected:
        by_scenario.setdefault(record.scenario, []).append(record)
    terminalreporter.section("fault scenarios")
    terminalreporter.write_line(
        f"{'scenario':<20} {'passed':<7} {'rec p50':>8} {'rec max':>8} {'remaining':>10} {'goal':>9}"
    )
    for scenario, runs in by_scenario.items():
        terminalreporter.write_line(_row(scenario, runs))
    terminalreporter.write_line(
        "rec: seconds from the backend's return (or the server's relaunch) to completion; remaining: what an "
        f"undisturbed run needs for the work left then; goal: runs within remaining + {_GOAL_MARGIN_SECONDS:.0f} s"
    )
    for record in collected:
        if not record.passed:
            terminalreporter.write_line(f"FAILED {record.scenario}: {record.detail}")
