"""`make bench`: factflow throughput, hop latency and memory, against a hand-written Redis ceiling.

Usage:

    uv run --frozen python -m benchmarks.run [--messages N | --quick] [--only memory|redis|volume|scale] [--strict]
    uv run --frozen python -m benchmarks.run --workers N [--rounds R] [--messages N | --quick] [--strict]

Every scenario runs in a child process of its own (so its peak RSS is its own), one after the
other: the redis-py ceiling, then factflow in Redis mode (storage and lineage off, lineage only, both
on) and in memory mode (both off, both on), then the volume check (Redis + PostgreSQL lineage with
100,000 messages against the same scenario with 10,000: throughput and peak RSS), then the scale
scenario (`benchmarks/_scale.py`: the read endpoints against one execution with 1,000,000 lineage
rows on PostgreSQL). The results are
printed as tables, followed by the performance goals with PASS or FAIL. `--workers N` runs instead
the Redis + PostgreSQL lineage pipeline on a server without local worker and 1 … N
`factflow-server worker` processes (`benchmarks/_workers.py`). See docs/performance.md
for what is measured and the figures on the reference machine.
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

from benchmarks._report import cpu_pressure as _pressure
from benchmarks._report import fmt_number as _fmt

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_MESSAGES = 10_000
QUICK_MESSAGES = 1_000
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

VOLUME_SCENARIO = "redis-lineage"
VOLUME_BASE_MESSAGES = 10_000
VOLUME_MESSAGES = 100_000
VOLUME_MIN_RATIO = 0.8
"""A 100,000-message execution keeps its throughput within 20 % of the 10,000-message figure."""
VOLUME_MAX_RSS_MB = 300.0

WORKERS_DEFAULT_MESSAGES = 30_000
"""Enough for at least 10 s with one worker on the reference machine."""
WORKERS_QUICK_MESSAGES = 3_000

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


def _message_count(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Messages per run; also checks `--workers` and fills in the in-process scenarios' Redis URL."""
    if args.workers is not None:
        if args.workers < 1:
            parser.error("--workers must be at least 1")
        if args.only is not None or args.scenario is not None:
            parser.error("--workers runs on its own: drop --only")
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        messages: int = args.messages or (WORKERS_QUICK_MESSAGES if args.quick else WORKERS_DEFAULT_MESSAGES)
    else:
        messages = args.messages or (QUICK_MESSAGES if args.quick else DEFAULT_MESSAGES)
        args.redis_url = args.redis_url or default_redis_url()
    if messages < 1:
        parser.error("--messages must be at least 1")
    return messages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=None, help=f"messages per scenario ({DEFAULT_MESSAGES:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MESSAGES:,} messages")
    parser.add_argument(
        "--only",
        choices=("memory", "redis", "volume", "scale"),
        help="run only the scenarios of one mode, the volume check or the scale scenario",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="instead: the Redis + PostgreSQL lineage pipeline on 1 … N worker processes"
        f" ({WORKERS_DEFAULT_MESSAGES:,} messages, --quick {WORKERS_QUICK_MESSAGES:,})",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="with --workers: run every worker count this many times, alternating"
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="Redis of the scenarios (default: database 9; with --workers an empty database, flushed"
        " afterwards: database 10)",
    )
    parser.add_argument("--postgres-url", default=os.environ.get("FACTFLOW_TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", type=Path, help="also write every result to this JSON file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal fails")
    parser.add_argument("--verbose", action="store_true", help="show the scenarios' log output")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per scenario")
    parser.add_argument("--scenario", choices=tuple(SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    messages = _message_count(args, parser)

    if args.scenario is not None:
        if args.result_file is None:
            parser.error("--scenario needs --result-file")
        run_child(args.scenario, messages, args.redis_url, args.postgres_url, args.result_file)
        return 0

    console = Console() if sys.stdout.isatty() else Console(width=200)
    if args.workers is not None:
        from benchmarks._workers import DEFAULT_WORKERS_REDIS_URL

        redis_url = args.redis_url or os.environ.get("FACTFLOW_BENCH_WORKERS_REDIS_URL") or DEFAULT_WORKERS_REDIS_URL
        from benchmarks._workers_report import run_workers_check

        return run_workers_check(args, console, messages=messages, redis_url=redis_url)
    if args.only == "scale":
        return run_scale_scenario(args.postgres_url, console, strict=args.strict, json_path=args.json)
    if args.only == "volume":
        return run_volume_check(args, console, base=None, json_path=args.json)
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
    if args.only is None:
        base = outcomes.get(VOLUME_SCENARIO) if messages == VOLUME_BASE_MESSAGES else None
        volume_json = None if args.json is None else args.json.with_suffix(".volume.json")
        if run_volume_check(args, console, base=base, json_path=volume_json):
            failed_goal = True
        scale_json = None if args.json is None else args.json.with_suffix(".scale.json")
        if run_scale_scenario(args.postgres_url, console, strict=args.strict, json_path=scale_json):
            failed_goal = True
    return 1 if failed_run or (args.strict and failed_goal) else 0


def run_volume_check(
    args: argparse.Namespace, console: Console, *, base: Outcome | None, json_path: Path | None
) -> int:
    """Redis + PostgreSQL lineage at 100,000 messages against 10,000: throughput within 20 %, peak RSS < 300 MB.

    `base` is the 10,000-message run of the same scenario when the main table measured it already.
    Returns 1 when a run failed, or (with `--strict`) when a goal was missed.
    """
    label = SCENARIOS[VOLUME_SCENARIO][1]
    runs: dict[int, Outcome] = {}
    if base is not None and base.result is not None:
        runs[VOLUME_BASE_MESSAGES] = base
    for count in (VOLUME_BASE_MESSAGES, VOLUME_MESSAGES):
        if count in runs:
            continue
        console.print(f"[dim]running {label} with {count:,} messages …[/dim]")
        runs[count] = run_in_child(
            VOLUME_SCENARIO,
            messages=count,
            redis_url=args.redis_url,
            postgres_url=args.postgres_url,
            verbose=args.verbose,
            # The per-scenario timeout is sized for the default message count.
            timeout=args.timeout * max(1.0, count / DEFAULT_MESSAGES),
        )
    table = Table(title=f"factflow volume · {label}", caption=f"{os.cpu_count()} CPU cores{_pressure()}")
    for column in ("messages", "msgs/s", "elapsed s", "CPU µs/msg", "peak RSS MB", "lineage rows / dropped", "status"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for count, outcome in runs.items():
        if outcome.result is None:
            table.add_row(f"{count:,}", "–", "–", "–", "–", "–", f"[red]error[/red]: {outcome.error}")
            continue
        result = outcome.result
        table.add_row(
            f"{count:,}",
            _fmt(result["messages_per_second"], 0),
            _fmt(result["elapsed_seconds"], 1),
            _fmt(result["cpu_seconds"] / count * 1e6, 0),
            _fmt(result["peak_rss_mb"], 0),
            f"{result['lineage_written']:,} / {result['lineage_dropped']:,}",
            str(result.get("status", "completed")),
        )
    console.print(table)
    small, large = runs[VOLUME_BASE_MESSAGES].result, runs[VOLUME_MESSAGES].result
    if small is None or large is None:
        console.print("[yellow]n/a [/yellow] volume goals: a run failed")
        if json_path is not None:
            json_path.write_text(json.dumps({str(count): outcome.error for count, outcome in runs.items()}, indent=2))
        return 1
    valid = large.get("status", "completed") == "completed" and not large.get("lineage_dropped")
    ratio = large["messages_per_second"] / max(small["messages_per_second"], 1e-9)
    goals = (
        (
            valid and ratio >= VOLUME_MIN_RATIO,
            f"{VOLUME_MESSAGES:,} messages keep ≥ {VOLUME_MIN_RATIO:.0%} of the {VOLUME_BASE_MESSAGES:,}-message"
            f" throughput: measured {ratio:.0%}",
        ),
        (
            large["peak_rss_mb"] < VOLUME_MAX_RSS_MB,
            f"peak RSS with {VOLUME_MESSAGES:,} messages < {VOLUME_MAX_RSS_MB:.0f} MB: measured"
            f" {large['peak_rss_mb']:,.0f} MB",
        ),
    )
    for passed, text in goals:
        console.print(f"{'[green]PASS[/green]' if passed else '[red]FAIL[/red]'}  {text}")
    if json_path is not None:
        json_path.write_text(
            json.dumps(
                {
                    "results": {str(count): outcome.result for count, outcome in runs.items()},
                    "goals": [{"goal": text, "passed": passed} for passed, text in goals],
                },
                indent=2,
            )
        )
    return 1 if args.strict and not all(passed for passed, _ in goals) else 0


def run_scale_scenario(postgres_url: str, console: Console, *, strict: bool, json_path: Path | None) -> int:
    """Run `benchmarks/_scale.py` in this process, print its table and goals; 1 when it failed (or missed a goal)."""
    import asyncio

    from benchmarks._scale import REQUESTS, run_scale

    console.print("[dim]running the scale scenario (PostgreSQL, 1,000,000 lineage rows) …[/dim]")
    started = time.perf_counter()
    try:
        result = asyncio.run(
            run_scale(postgres_url=postgres_url, progress=lambda line: console.print(f"[dim]{line}[/dim]"))
        )
    except Exception as exc:  # the report says why; the other scenarios' results still stand
        console.print(f"[red]scale scenario failed[/red]: {type(exc).__name__}: {exc}")
        return 1
    table = Table(
        title=f"factflow scale · {result.lineage_rows:,} lineage rows in one execution · "
        f"{result.executions:,} executions · {REQUESTS} requests each",
        caption=f"{os.cpu_count()} CPU cores{_pressure()} · seeded in {result.seed_seconds:.0f} s",
    )
    table.add_column("endpoint")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("goal", justify="right")
    table.add_column("status")
    for timing in result.endpoints:
        mark = "[green]PASS[/green]" if timing.passed else f"[red]FAIL[/red] (HTTP {timing.status})"
        table.add_row(timing.name, _fmt(timing.p50), _fmt(timing.p99), f"< {timing.goal_ms:.0f}", mark)
    console.print(table)
    rows = max(result.lineage_rows, 1)

    def split(tables: dict[str, int]) -> str:
        return ", ".join(f"{table} {size / rows:,.1f}" for table, size in tables.items())

    console.print(
        f"lineage, every table: {result.bytes_per_row:,.0f} bytes per row at rest"
        f" ({result.lineage_bytes / 2**20:,.0f} MB; {split(result.table_bytes)};"
        f" of which indexes: {split(result.table_index_bytes)})"
    )
    running = sum(result.running_table_bytes.values())
    console.print(
        f"[dim]before compaction (as while it ran): {running / rows:,.0f} bytes per row"
        f" ({split(result.running_table_bytes)})[/dim]"
    )
    indexes = ", ".join(f"{name} {size / 2**20:,.0f} MB" for name, size in result.index_bytes.items())
    console.print(f"[dim]pipeline_lineage: heap {result.heap_bytes / 2**20:,.0f} MB; {indexes}[/dim]")
    size_ok = result.bytes_per_row <= 300
    console.print(
        f"{'[green]PASS[/green]' if size_ok else '[red]FAIL[/red]'}  ≤ 300 bytes of PostgreSQL per lineage row"
        " (every lineage table, indexes included)"
    )
    console.print(f"[dim]scale total {time.perf_counter() - started:.0f} s[/dim]")
    if json_path is not None:
        json_path.write_text(json.dumps(result.as_dict(), indent=2))
    missed = not size_ok or not all(timing.passed for timing in result.endpoints)
    return 1 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
