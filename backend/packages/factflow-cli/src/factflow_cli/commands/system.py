"""`factflow system …` (docs/reference/cli.md): server health and the orchestrator's metrics snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .._calls import call, get_json
from .._exit_codes import ExitCode
from .._output import (
    Column,
    format_duration_ms,
    format_json_inline,
    format_time,
    make_panel,
    make_table,
    print_json,
    print_renderable,
)
from .._state import CliState, output_option, pass_state

if TYPE_CHECKING:
    from rich.console import RenderableType

    from factflow_protocols import JSONObject

    from .._client import ApiClient

__all__ = ("system",)

_COMPONENT_COLUMNS = (
    Column("COMPONENT", key=True),
    Column("STATUS"),
    Column("LATENCY MS", justify="right"),
    Column("MESSAGE", text=True),
)
_FIELD_COLUMNS = (Column("FIELD", key=True), Column("VALUE", text=True))
_METRIC_SECTIONS = ("executions", "messages", "routes", "lineage", "storage")
_STATUS_STYLES = {"healthy": "green", "degraded": "yellow", "unhealthy": "bold red"}


def _value(field: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return format_json_inline(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if field.endswith("_at") and isinstance(value, str):
        return format_time(value)
    return str(value)


@click.group()
def system() -> None:
    """The server itself: component health and metrics."""


@system.command("health")
@click.option("--debug", is_flag=True, help="Add the debug block (settings, queue, orchestrator, …).")
@output_option
@pass_state
def health(state: CliState, debug: bool) -> None:
    """Probe the server's components (GET /system/health).

    Exit 0 healthy, 1 degraded or unhealthy, 6 unreachable. An unhealthy server's 503 answer is
    shown like a healthy one's.
    """
    from .._errors import ApiError

    async def work(api: ApiClient) -> Any:
        try:
            return await api.get_json("/system/health", params={"debug": True if debug else None})
        except ApiError as error:
            # A 503 carries the full HealthResponse (status `unhealthy`): it is the answer, not an error.
            if error.status == 503 and isinstance(error.body.get("components"), list):
                return error.body
            raise

    body = call(state, work)
    if state.mode == "json":
        print_json(body)
    else:
        print_renderable(*_health_renderables(body))
    if body.get("status") != "healthy":
        raise click.exceptions.Exit(int(ExitCode.FAILURE))


def _health_renderables(body: JSONObject) -> list[RenderableType]:
    from rich.text import Text

    status = str(body.get("status"))
    uptime = body.get("uptime_seconds")
    header = Text()
    header.append("STATUS ", style="bold")
    header.append(status, style=_STATUS_STYLES.get(status, ""))
    header.append("  VERSION ", style="bold")
    header.append(str(body.get("version")))
    header.append("  UPTIME ", style="bold")
    header.append(format_duration_ms(uptime * 1000 if isinstance(uptime, int | float) else None))
    rows = [
        (
            item.get("name"),
            Text(str(item.get("status")), style=_STATUS_STYLES.get(str(item.get("status")), "")),
            f"{item['latency_ms']:.1f}" if isinstance(item.get("latency_ms"), int | float) else "",
            item.get("message"),
        )
        for item in body.get("components") or []
    ]
    renderables: list[RenderableType] = [header, make_table(_COMPONENT_COLUMNS, rows)]
    debug = body.get("debug")
    if isinstance(debug, dict):
        for section, fields in debug.items():
            if isinstance(fields, dict):
                table_rows = [(name, _value(name, value)) for name, value in fields.items()]
                renderables.append(make_table(_FIELD_COLUMNS, table_rows, title=section.upper()))
    return renderables


@system.command("metrics")
@output_option
@pass_state
def metrics(state: CliState) -> None:
    """Show the orchestrator's counters since start (GET /system/metrics)."""
    body = get_json(state, "/system/metrics")
    if state.mode == "json":
        print_json(body)
        return
    uptime = body.get("uptime_seconds")
    renderables: list[RenderableType] = [
        make_panel(
            [
                ("UPTIME", format_duration_ms(uptime * 1000 if isinstance(uptime, int | float) else None)),
                ("TIMESTAMP", format_time(body.get("timestamp"))),
            ]
        )
    ]
    for section in _METRIC_SECTIONS:
        fields = body.get(section)
        if isinstance(fields, dict):
            rows = [(name, _value(name, value)) for name, value in fields.items()]
            renderables.append(make_panel(rows, title=section.upper()))
    renderables.extend(_worker_figures(body.get("workers")))
    print_renderable(*renderables)


_WORKER_COLUMNS = (
    Column("WORKER", key=True),
    Column("STATE"),
    Column("POOLS"),
    Column("IN FLIGHT", justify="right"),
    Column("HANDLED", justify="right"),
    Column("HEARTBEAT AGE S", justify="right"),
)


def _worker_figures(figures: object) -> list[RenderableType]:
    """The WORKERS panel (live, dead, live per pool) and one row per worker; nothing when unknown."""
    if not isinstance(figures, dict):
        return []
    by_pool = figures.get("live_by_pool") or {}
    panel = make_panel(
        [
            ("live", _value("live", figures.get("live"))),
            ("dead", _value("dead", figures.get("dead"))),
            ("live_by_pool", ", ".join(f"{pool} {count}" for pool, count in by_pool.items())),
        ],
        title="WORKERS",
    )
    rows = [
        (
            worker.get("id"),
            worker.get("state"),
            ",".join(worker.get("pools") or []),
            worker.get("in_flight"),
            worker.get("handled"),
            worker.get("heartbeat_age_seconds"),
        )
        for worker in figures.get("workers") or []
    ]
    return [panel, make_table(_WORKER_COLUMNS, rows)]
