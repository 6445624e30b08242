"""The report of `benchmarks.run --workers N`: a table per run, the median speed-up and the goal."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks._report import cpu_pressure as _pressure
from benchmarks._report import fmt_number as _fmt
from benchmarks._workers import expected_handled, expected_lineage_rows, run_workers

__all__ = ("WORKERS_MIN_SPEEDUP", "run_workers_check")

WORKERS_MIN_SPEEDUP = 1.7
"""Two workers ≥ 1.7 × the throughput of one."""
RUN_TIMEOUT_PER_MESSAGE = 0.02
"""Seconds a run may take per message (at least 240 s), far above what a loaded two-core machine needs."""


def _cpu(used: dict[str, float]) -> str:
    workers = " + ".join(f"{seconds:.1f}" for name, seconds in sorted(used.items()) if name != "server")
    return f"{used.get('server', 0.0):.1f} / {workers}"


def run_workers_check(args: argparse.Namespace, console: Console, *, messages: int, redis_url: str) -> int:
    """The lineage pipeline on 1 … `args.workers` worker processes: throughput, speed-up, exact counts.

    `--rounds R` runs the worker counts R times, alternating (1, 2, …, 1, 2, …), so a load that
    changes during the benchmark weighs on every count alike; the speed-up compares medians.
    Returns 1 when a run failed or a count is not exact, or (with `--strict`) when the goal was missed.
    """
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    started = time.perf_counter()
    for round_number in range(1, args.rounds + 1):
        for workers in range(1, args.workers + 1):
            console.print(f"[dim]round {round_number}: {messages:,} messages on {workers} worker process(es) …[/dim]")
            try:
                outcome = run_workers(
                    workers=workers,
                    messages=messages,
                    redis_url=redis_url,
                    postgres_url=args.postgres_url,
                    time_limit=max(args.timeout, messages * RUN_TIMEOUT_PER_MESSAGE),
                )
            except Exception as exc:  # the report says why; the other runs still count
                runs.append({"round": round_number, "workers": workers, "error": f"{type(exc).__name__}: {exc}"})
                errors.append(f"round {round_number}, {workers} worker(s): {type(exc).__name__}: {exc}")
                continue
            runs.append({"round": round_number, **outcome.as_dict()})
    medians = _median_runs(runs)
    handled, rows = expected_handled(messages), expected_lineage_rows(messages)
    table = Table(
        title=f"factflow workers · {messages:,} messages · Redis + PostgreSQL lineage, storage off ·"
        " server --no-local-worker",
        caption=f"{os.cpu_count()} CPU cores{_pressure()} · elapsed = first handled message → completed_at"
        " (start-up and joining not timed) · speed-up against the median 1-worker run · CPU = each process's"
        " user + system time while the messages ran",
    )
    columns = (
        "round",
        "workers",
        "msgs/s",
        "elapsed s",
        "speed-up",
        "handled",
        "lineage rows",
        "CPU s server / workers",
    )
    for column in (*columns, "handled per worker"):
        table.add_column(column, justify="left" if column == "handled per worker" else "right")
    one = medians.get(1)
    for run in runs:
        if "error" in run:
            cells = ("–",) * (len(columns) - 2)
            table.add_row(str(run["round"]), str(run["workers"]), *cells, f"[red]error[/red]: {run['error']}")
            continue
        speedup = f"{run['messages_per_second'] / one['messages_per_second']:.2f}×" if one else "–"
        exact_handled = run["status"] == "completed" and run["handled"] == run["published"] == handled
        exact_rows = run["lineage_rows"] == run["lineage_completed"] == rows
        table.add_row(
            str(run["round"]),
            str(run["workers"]),
            _fmt(run["messages_per_second"], 0),
            _fmt(run["elapsed_seconds"], 2),
            speedup,
            f"{run['handled']:,} {'=' if exact_handled else '≠'} {handled:,}",
            f"{run['lineage_rows']:,} {'=' if exact_rows else '≠'} {rows:,}",
            _cpu(run["cpu_seconds"]),
            ", ".join(f"{worker} {count:,}" for worker, count in sorted(run["handled_by_worker"].items())),
        )
    console.print(table)
    if args.rounds > 1:
        console.print(
            "median msgs/s: "
            + ", ".join(f"{workers} worker(s) {run['messages_per_second']:,.0f}" for workers, run in medians.items())
        )
    exact = not errors and all(run["exact"] for run in runs)
    console.print(
        f"{'[green]PASS[/green]' if exact else '[red]FAIL[/red]'}  every run completed with handled = {handled:,}"
        f" (all on worker processes) and {rows:,} completed lineage rows"
    )
    two = medians.get(2)
    goal = f"2 workers ≥ {WORKERS_MIN_SPEEDUP}× the throughput of 1"
    passed: bool | None = None
    if one is None or two is None:
        console.print(f"[yellow]n/a [/yellow] {goal}: not measured")
    else:
        speedup = two["messages_per_second"] / max(one["messages_per_second"], 1e-9)
        passed = speedup >= WORKERS_MIN_SPEEDUP
        console.print(f"{'[green]PASS[/green]' if passed else '[red]FAIL[/red]'}  {goal}: measured {speedup:.2f}×")
    console.print(f"[dim]total {time.perf_counter() - started:.0f} s[/dim]")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "messages": messages,
                    "cpu_count": os.cpu_count(),
                    "rounds": args.rounds,
                    "results": {str(workers): run for workers, run in medians.items()},
                    "runs": runs,
                    "errors": errors,
                    "goals": [{"goal": goal, "passed": passed}],
                },
                indent=2,
            )
        )
    return 1 if not exact or (args.strict and passed is False) else 0


def _median_runs(runs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per worker count, the successful run with the median throughput (the lower one of an even count)."""
    by_count: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        if "error" not in run:
            by_count.setdefault(int(run["workers"]), []).append(run)
    return {
        workers: sorted(found, key=lambda run: float(run["messages_per_second"]))[(len(found) - 1) // 2]
        for workers, found in sorted(by_count.items())
    }
