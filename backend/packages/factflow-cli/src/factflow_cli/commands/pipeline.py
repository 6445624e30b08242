"""`factflow pipeline …` (docs/reference/cli.md): running routes, their metrics, global pause and resume."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .._calls import get_json, patch_json, segment
from .._output import (
    Column,
    format_concurrency,
    format_count,
    format_flag,
    format_time,
    make_panel,
    make_table,
    print_json,
    print_line,
    print_renderable,
)
from .._state import CliState, output_option, pass_state

if TYPE_CHECKING:
    from rich.console import RenderableType

    from factflow_protocols import JSONObject

__all__ = ("pipeline",)

_LIST_COLUMNS = (
    Column("ROUTE", key=True),
    Column("EXECUTION", key=True),
    Column("STATE"),
    Column("PAUSED"),
    Column("QUEUE", key=True),
    Column("IN FLIGHT", justify="right"),
    Column("DEPTH", justify="right"),
    Column("CONCURRENCY", justify="right"),
)
_BREAKER_COLUMNS = (
    Column("ADAPTER", key=True),
    Column("BREAKER"),
    Column("FAILURES", justify="right"),
    Column("OPENED"),
)
_EXECUTION_COLUMNS = (
    Column("EXECUTION", key=True),
    Column("RECEIVED", justify="right"),
    Column("COMPLETED", justify="right"),
    Column("FAILED", justify="right"),
    Column("IN FLIGHT", justify="right"),
)


def _number(value: object, unit: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}{unit}"
    return f"{format_count(value)}{unit}"


@click.group()
def pipeline() -> None:
    """Routes: list running ones, metrics, global pause and resume."""


@pipeline.command("list")
@click.option("--execution", "execution_ref", default=None, metavar="EXEC_ID", help="Only this execution's routes.")
@output_option
@pass_state
def list_routes(state: CliState, execution_ref: str | None) -> None:
    """List the routes of running executions and the paused route names (GET /pipelines)."""
    body = get_json(state, "/pipelines", params={"execution_id": execution_ref})
    if state.mode == "json":
        print_json(body)
        return
    routes = body.get("routes") or []
    rows = [
        (
            route.get("route_id"),
            route.get("execution_id"),
            route.get("processor_state"),
            format_flag(route.get("paused")),
            route.get("inbound_queue"),
            route.get("in_flight"),
            route.get("queue_depth"),
            format_concurrency(route.get("concurrency")),
        )
        for route in routes
    ]
    print_renderable(make_table(_LIST_COLUMNS, rows))
    running = {route.get("route_id") for route in routes}
    idle = [
        str(item.get("route_id")) for item in body.get("paused_routes") or [] if item.get("route_id") not in running
    ]
    if idle:
        print_line("Paused without running processors: " + ", ".join(idle))


@pipeline.command("metrics")
@click.argument("route_id")
@output_option
@pass_state
def metrics(state: CliState, route_id: str) -> None:
    """Show a route's throughput, latency, counters, breakers and executions (GET /pipelines/{route_id}/metrics)."""
    body = get_json(state, f"/pipelines/{segment(route_id)}/metrics")
    if state.mode == "json":
        print_json(body)
        return
    print_renderable(*_metrics_renderables(body))


def _metrics_renderables(body: JSONObject) -> list[RenderableType]:
    messages = body.get("messages") or {}
    latency = body.get("latency_ms") or {}
    concurrency = body.get("concurrency") or {}
    window = body.get("window_seconds")
    rows: list[tuple[str, object]] = [
        ("ROUTE", body.get("route_id")),
        ("PAUSED", format_flag(body.get("paused"))),
        ("PROCESSORS", body.get("processors")),
        (f"THROUGHPUT ({window}s)", _number(body.get("throughput_per_second"), "/s")),
    ]
    for name in ("avg", "p50", "p95", "p99", "max"):
        rows.append((f"LATENCY {name.upper()}", _number(latency.get(name), " ms")))
    for name in ("received", "completed", "failed", "dead_lettered", "retried", "in_flight"):
        rows.append((name.upper().replace("_", " "), _number(messages.get(name))))
    rows += [
        ("QUEUE DEPTH", _number(body.get("queue_depth"))),
        ("CONCURRENCY", f"{concurrency.get('current')}/{concurrency.get('max')}" if concurrency else ""),
        ("TARGET LATENCY", _number(concurrency.get("target_latency_ms"), " ms")),
    ]
    breakers = [
        (
            f"{item.get('adapter_index')}. {item.get('adapter_name')}",
            item.get("state"),
            item.get("consecutive_failures"),
            format_time(item.get("opened_at")),
        )
        for item in body.get("circuit_breakers") or []
    ]
    executions = [
        (
            item.get("execution_id"),
            item.get("received"),
            item.get("completed"),
            item.get("failed"),
            item.get("in_flight"),
        )
        for item in body.get("executions") or []
    ]
    return [make_panel(rows), make_table(_BREAKER_COLUMNS, breakers), make_table(_EXECUTION_COLUMNS, executions)]


def _control(state: CliState, route_id: str, target: str, reason: str | None) -> None:
    body: JSONObject = {"state": target}
    if reason is not None:
        body["reason"] = reason
    answer = patch_json(state, f"/pipelines/{segment(route_id)}", body)
    if state.mode == "json":
        print_json(answer)
        return
    word = "paused" if target == "paused" else "running"
    if answer.get("previous_status") == answer.get("status"):
        print_line(f"Route {answer.get('route_id') or route_id} already {word}")
        return
    affected = len(answer.get("affected_executions") or [])
    verb = "paused" if target == "paused" else "resumed"
    print_line(f"Route {answer.get('route_id') or route_id} {verb} ({affected} running executions affected)")


@pipeline.command("pause")
@click.argument("route_id")
@click.option("--reason", default=None, metavar="TEXT", help="Why (kept with the pause flag).")
@output_option
@pass_state
def pause(state: CliState, route_id: str, reason: str | None) -> None:
    """Pause a route name globally: its processors stop reading (PATCH /pipelines/{route_id})."""
    _control(state, route_id, "paused", reason)


@pipeline.command("resume")
@click.argument("route_id")
@output_option
@pass_state
def resume(state: CliState, route_id: str) -> None:
    """Resume a paused route name (PATCH /pipelines/{route_id})."""
    _control(state, route_id, "running", None)
