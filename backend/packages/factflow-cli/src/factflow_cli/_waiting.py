"""`execution wait` and the `--wait` flags: follow the execution's events to a final status (docs/reference/cli.md)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from ._calls import segment
from ._client import ApiClient, run_async
from ._errors import CliError
from ._events import SseEvent, follow_events, stream_timeout
from ._exit_codes import ExitCode
from ._output import OutputMode, format_count, format_duration_ms, make_panel, print_json, print_renderable
from ._progress import ProgressLine
from ._state import DEFAULT_TIMEOUT_SECONDS, CliState

if TYPE_CHECKING:
    from factflow_protocols import JSONObject

__all__ = ("DEFAULT_WAIT_SECONDS", "WaitOutcome", "exit_code_for", "print_outcome", "wait_for", "wait_command")

DEFAULT_WAIT_SECONDS = 300.0
"""Default overall deadline of `execution wait` and the `--wait` flags (`5m`)."""

FINAL_EXIT_CODES = {
    "completed": ExitCode.OK,
    "failed": ExitCode.FAILURE,
    "cancelled": ExitCode.CANCELLED,
    "interrupted": ExitCode.INTERRUPTED,
}

_STATS_AT_DEADLINE_SECONDS = 2.0
"""How long the deadline path still tries to fetch stats for its report."""


@dataclass(slots=True)
class WaitOutcome:
    """What a wait ended with."""

    execution_id: str
    status: str
    completed: bool
    """False when the deadline was reached first."""
    duration_ms: float | None
    stats: JSONObject | None

    def to_dict(self) -> JSONObject:
        """The JSON form: `{execution_id, status, completed, duration_ms, stats}`."""
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "completed": self.completed,
            "duration_ms": self.duration_ms,
            "stats": self.stats,
        }


async def wait_for(
    api: ApiClient, ref: str, *, timeout_seconds: float, progress: ProgressLine | None = None
) -> WaitOutcome:
    """Follow `GET /executions/{ref}/events` until a final status or the deadline, then fetch the stats."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    seen: JSONObject = {"execution_id": ref, "status": "running", "duration_ms": None, "final": None}

    def remaining() -> float:
        return deadline - loop.time()

    def on_event(event: SseEvent) -> bool:
        data = event.data
        if progress is not None and event.name in ("execution.snapshot", "execution.progress", "execution.status"):
            progress.update(data)
        if event.name == "execution.snapshot" and isinstance(data.get("execution"), dict):
            execution = data["execution"]
            seen["execution_id"] = execution.get("execution_id") or execution.get("id") or seen["execution_id"]
            seen["status"] = execution.get("status") or seen["status"]
            seen["duration_ms"] = execution.get("duration_ms")
        elif event.name == "execution.status" and isinstance(data.get("status"), str):
            seen["status"] = data["status"]
        elif event.name == "stream.end" and data.get("reason") == "terminal":
            seen["final"] = data.get("status") if isinstance(data.get("status"), str) else seen["status"]
            return True
        return False

    drawer = asyncio.create_task(progress.run(), name="progress-line") if progress is not None else None
    try:
        try:
            async with asyncio.timeout_at(deadline):
                await follow_events(
                    api,
                    f"/executions/{segment(ref)}/events",
                    params=lambda left: {"include_messages": False, "timeout": stream_timeout(left)},
                    remaining=remaining,
                    on_event=on_event,
                )
        except TimeoutError:
            stats = await _stats_at_deadline(api, seen["execution_id"])
            return WaitOutcome(
                execution_id=str(stats.get("execution_id") if stats else seen["execution_id"]),
                status=str(stats.get("status") if stats else seen["status"]),
                completed=False,
                duration_ms=None,
                stats=stats,
            )
    finally:
        if drawer is not None:
            drawer.cancel()
            await asyncio.gather(drawer, return_exceptions=True)
        if progress is not None:
            progress.clear()
    stats = await api.get_json(f"/executions/{segment(str(seen['execution_id']))}/stats")
    if not isinstance(stats, dict):
        raise CliError("the server's execution stats are not a JSON object")
    status = str(seen["final"] or stats.get("status") or seen["status"])
    duration = seen["duration_ms"] if seen["duration_ms"] is not None else stats.get("elapsed_ms")
    return WaitOutcome(
        execution_id=str(stats.get("execution_id") or seen["execution_id"]),
        status=status,
        completed=True,
        duration_ms=duration,
        stats=stats,
    )


async def _stats_at_deadline(api: ApiClient, ref: str) -> JSONObject | None:
    # Best effort: the deadline has passed, so only a short extra wait for the report.
    try:
        async with asyncio.timeout(_STATS_AT_DEADLINE_SECONDS):
            stats = await api.get_json(f"/executions/{segment(ref)}/stats")
    except (CliError, TimeoutError):
        return None
    return stats if isinstance(stats, dict) else None


def exit_code_for(outcome: WaitOutcome, *, cancelled_ok: bool = False) -> ExitCode:
    """0 completed, 1 failed, 3 cancelled (0 with `cancelled_ok`), 4 interrupted, 5 deadline."""
    if not outcome.completed:
        return ExitCode.TIMED_OUT
    if cancelled_ok and outcome.status == "cancelled":
        return ExitCode.OK
    return FINAL_EXIT_CODES.get(outcome.status, ExitCode.FAILURE)


def print_outcome(outcome: WaitOutcome, mode: OutputMode, *, timeout_seconds: float) -> None:
    """JSON: the outcome object. Table: the summary panel, or at the deadline only a note on stderr."""
    if not outcome.completed:
        click.echo(
            f"note: execution {outcome.execution_id} is still {outcome.status} after {timeout_seconds:g}s; "
            "stopped waiting (it keeps running)",
            err=True,
        )
    if mode == "json":
        print_json(outcome.to_dict())
        return
    if not outcome.completed:
        return
    stats = outcome.stats or {}
    counts = stats.get("message_counts") or {}
    stages = stats.get("stage_counts") or {}
    print_renderable(
        make_panel(
            [
                ("ID", outcome.execution_id),
                ("STATUS", outcome.status),
                ("DURATION", format_duration_ms(outcome.duration_ms)),
                ("PUBLISHED", format_count(counts.get("published"))),
                ("HANDLED", format_count(counts.get("handled"))),
                ("DEAD-LETTERED", format_count(counts.get("dead_lettered"))),
                ("STAGES COMPLETED", format_count(stages.get("completed"))),
                ("STAGES FAILED", format_count(stages.get("failed"))),
            ]
        )
    )


def wait_command(state: CliState, ref: str, *, cancelled_ok: bool = False) -> None:
    """Run a whole wait for a command: follow, print, and exit with the status's code."""
    timeout_seconds = state.timeout_or(DEFAULT_WAIT_SECONDS) or DEFAULT_WAIT_SECONDS
    mode = state.mode
    progress = ProgressLine(sys.stderr) if mode == "table" and sys.stderr.isatty() else None

    async def run() -> WaitOutcome:
        # Per exchange the usual 30 s; the deadline bounds the whole wait.
        async with ApiClient(state.api_url, token=state.token, timeout=DEFAULT_TIMEOUT_SECONDS) as api:
            return await wait_for(api, ref, timeout_seconds=timeout_seconds, progress=progress)

    outcome = run_async(run())
    print_outcome(outcome, mode, timeout_seconds=timeout_seconds)
    code = exit_code_for(outcome, cancelled_ok=cancelled_ok)
    if code != ExitCode.OK:
        raise click.exceptions.Exit(int(code))
