"""`make bench`: factflow throughput, hop latency and memory, against a hand-written Redis ceiling.

Usage:

    uv run --frozen python -m benchmarks.run [--messages N | --quick] [--only memory|redis] [--strict]

Every scenario runs in a child process of its own (so its peak RSS is its own), one after the
other: the redis-py ceiling, then factflow in Redis mode (storage and lineage off, lineage only, both
on) and in memory mode (both off, both on). The results are printed as a table, followed by the performance goals with
PASS or FAIL. See docs/performance.md for what is measured and the figures on the reference
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_MESSAGES = 10_000
QUICK_MESSAGES = 1_000
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

SCENARIOS: dict[str, tuple[str, str]] = {
    # name: (mode, label)
    "ceiling": ("redis", "redis-py relay (ceiling)"),
    "redis-off": ("redis", "Redis · no storage, no lineage"),
    "redis-lineage": ("redis", "Redis · PostgreSQL lineage, no storage"),
    "redis-on": ("redis", "Redis · filesystem + PostgreSQL lineage"),
    "memory-off": ("memory", "memory · no storage, no lineage"),
    "memory-on": ("memory", "memory · filesystem + SQLite lineage"),
}

GOALS = (
    ("redis-off", "ceiling", 0.40, "Redis, storage and lineage off ≥ 40% of the ceiling"),
    ("redis-lineage", "ceiling", 0.30, "Redis, PostgreSQL lineage on, storage off ≥ 30% of the ceiling"),
    ("redis-on", "ceiling", 0.15, "Redis, filesystem storage and PostgreSQL lineage on ≥ 15% of the ceiling"),
    ("memory-off", "redis-off", 2.0, "memory mode ≥ 2× Redis mode (storage and lineage off)"),
)


def default_redis_url() -> str:
    return (
        os.environ.get("FACTFLOW_BENCH_REDIS_URL")
        or os.environ.get("FACTFLOW_TEST_REDIS_URL")
        or "redis://127.0.0.1:6379/9"
    )


# ---------------------------------------------------------------------------------------- child


def run_child(scenario: str, messages: int, redis_url: str, postgres_url: str, result_file: Path) -> None:
    """Run one scenario in this process and write its result as JSON."""
    import asyncio

    result: dict[str, Any]
    if scenario == "ceiling":
        from benchmarks._ceiling import run_ceiling
        from benchmarks._scenario import PREFETCH

        result = asyncio.run(run_ceiling(redis_url=redis_url, messages=messages, batch=PREFETCH))
    else:
        from benchmarks._scenario import run_scenario

        mode, persistence = scenario.split("-")
        outcome = asyncio.run(
            run_scenario(
                mode="memory" if mode == "memory" else "redis",
                storage=persistence == "on",
                lineage=persistence in ("on", "lineage"),
                messages=messages,
                redis_url=redis_url,
                postgres_url=postgres_url,
            )
        )
        result = outcome.as_dict()
    result_file.write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------- parent


@dataclass(slots=True)
class Outcome:
    scenario: str
    result: dict[str, Any] | None
    error: str | None = None


def run_in_child(
    scenario: str, *, messages: int, redis_url: str, postgres_url: str, verbose: bool, timeout: float
) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="factflow-bench-result-") as tmp:
        result_file = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--scenario",
            scenario,
            "--messages",
            str(messages),
            "--redis-url",
            redis_url,
            "--postgres-url",
            postgres_url,
            "--result-file",
            str(result_file),
        ]
        try:
            completed = subprocess.run(
                command,
                cwd=ROOT,
                stdout=None if verbose else subprocess.PIPE,
                stderr=None if verbose else subprocess.PIPE,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Outcome(scenario, None, f"timed out after {timeout:.0f} s")
        if completed.returncode != 0 or not result_file.exists():
            tail = (completed.stderr or "").strip().splitlines()[-6:]
            return Outcome(scenario, None, " | ".join(tail) or f"exit code {completed.returncode}")
        return Outcome(scenario, json.loads(result_file.read_text()))


def _pressure() -> str:
    """CPU pressure while the benchmark ran (Linux PSI), so a contended machine shows in the report."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return ""
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    return f" · CPU pressure (some, avg60) {fields.get('avg60', '?')}%"


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _hops(result: dict[str, Any], keys: tuple[str, str]) -> tuple[str, str]:
    p50, p99 = result.get("hop_p50_ms", {}), result.get("hop_p99_ms", {})
    return tuple(f"{_fmt(p50.get(key))} / {_fmt(p99.get(key))}" for key in keys)  # type: ignore[return-value]


def render(outcomes: dict[str, Outcome], messages: int, console: Console) -> list[tuple[str, bool | None, str]]:
    ceiling = outcomes.get("ceiling")
    ceiling_rate = ceiling.result["messages_per_second"] if ceiling and ceiling.result else None
    table = Table(
        title=f"factflow benchmark · {messages:,} messages · three routes (split → passthrough → set_fields)",
        caption=f"{os.cpu_count()} CPU cores{_pressure()} · hop = publish → handler start in the next route · "
        "elapsed includes writing every lineage row · CPU = this process (all threads) per message",
    )
    table.add_column("scenario")
    table.add_column("msgs/s", justify="right")
    table.add_column("vs ceiling", justify="right")
    table.add_column("elapsed s", justify="right")
    table.add_column("hop 1→2 ms p50 / p99", justify="right")
    table.add_column("hop 2→3 ms p50 / p99", justify="right")
    table.add_column("CPU µs/msg", justify="right")
    table.add_column("peak RSS MB", justify="right")
    table.add_column("lineage rows / dropped", justify="right")
    table.add_column("status")
    for scenario, outcome in outcomes.items():
        label = SCENARIOS[scenario][1]
        if outcome.result is None:
            table.add_row(label, "–", "–", "–", "–", "–", "–", "–", "–", f"[red]error[/red]: {outcome.error}")
            continue
        result = outcome.result
        rate = float(result["messages_per_second"])
        keys = ("mid", "out") if scenario == "ceiling" else ("bench.mid", "bench.out")
        hop1, hop2 = _hops(result, keys)
        ratio = f"{rate / ceiling_rate:.0%}" if ceiling_rate else "–"
        lineage = f"{result['lineage_written']:,} / {result['lineage_dropped']:,}" if result.get("persistence") else "–"
        status = result.get("status", "completed")
        expected = 2 * messages + 1
        if scenario != "ceiling" and result.get("handled") != expected:
            status = f"{status} (handled {result.get('handled')} of {expected})"
        table.add_row(
            label,
            _fmt(rate, 0),
            ratio,
            _fmt(result["elapsed_seconds"], 2),
            hop1,
            hop2,
            _fmt(result["cpu_seconds"] / messages * 1e6, 0),
            _fmt(result["peak_rss_mb"], 0),
            lineage,
            status,
        )
    console.print(table)
    return check_goals(outcomes)


def check_goals(outcomes: dict[str, Outcome]) -> list[tuple[str, bool | None, str]]:
    checked: list[tuple[str, bool | None, str]] = []
    for subject, reference, factor, text in GOALS:
        mine, theirs = outcomes.get(subject), outcomes.get(reference)
        if mine is None or theirs is None or mine.result is None or theirs.result is None:
            checked.append((text, None, "not measured"))
            continue
        ratio = mine.result["messages_per_second"] / max(theirs.result["messages_per_second"], 1e-9)
        valid = mine.result.get("status", "completed") == "completed" and not mine.result.get("lineage_dropped")
        passed = valid and ratio >= factor
        shown = f"{ratio:.2f}×" if factor >= 1 else f"{ratio:.0%}"
        note = "" if valid else " (run incomplete or lineage dropped rows)"
        checked.append((text, passed, f"measured {shown}{note}"))
    return checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=None, help=f"messages per scenario ({DEFAULT_MESSAGES:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MESSAGES:,} messages")
    parser.add_argument("--only", choices=("memory", "redis"), help="run only the scenarios of one mode")
    parser.add_argument("--redis-url", default=default_redis_url())
    parser.add_argument("--postgres-url", default=os.environ.get("FACTFLOW_TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", type=Path, help="also write every result to this JSON file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal fails")
    parser.add_argument("--verbose", action="store_true", help="show the scenarios' log output")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per scenario")
    parser.add_argument("--scenario", choices=tuple(SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    messages = args.messages or (QUICK_MESSAGES if args.quick else DEFAULT_MESSAGES)
    if messages < 1:
        parser.error("--messages must be at least 1")

    if args.scenario is not None:
        if args.result_file is None:
            parser.error("--scenario needs --result-file")
        run_child(args.scenario, messages, args.redis_url, args.postgres_url, args.result_file)
        return 0

    console = Console() if sys.stdout.isatty() else Console(width=200)
    selected = [name for name, (mode, _) in SCENARIOS.items() if args.only is None or mode == args.only]
    outcomes: dict[str, Outcome] = {}
    started = time.perf_counter()
    for scenario in selected:
        console.print(f"[dim]running {SCENARIOS[scenario][1]} …[/dim]")
        outcomes[scenario] = run_in_child(
            scenario,
            messages=messages,
            redis_url=args.redis_url,
            postgres_url=args.postgres_url,
            verbose=args.verbose,
            timeout=args.timeout,
        )
    goals = render(outcomes, messages, console)
    for text, passed, detail in goals:
        mark = "[yellow]n/a [/yellow]" if passed is None else ("[green]PASS[/green]" if passed else "[red]FAIL[/red]")
        console.print(f"{mark}  {text}: {detail}")
    console.print(f"[dim]total {time.perf_counter() - started:.0f} s[/dim]")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "messages": messages,
                    "cpu_count": os.cpu_count(),
                    "results": {name: outcome.result for name, outcome in outcomes.items()},
                    "errors": {name: outcome.error for name, outcome in outcomes.items() if outcome.error},
                    "goals": [{"goal": text, "passed": passed, "detail": detail} for text, passed, detail in goals],
                },
                indent=2,
            )
        )
    failed_run = any(outcome.result is None for outcome in outcomes.values())
    failed_goal = any(passed is False for _, passed, _ in goals)
    return 1 if failed_run or (args.strict and failed_goal) else 0


if __name__ == "__main__":
    sys.exit(main())
