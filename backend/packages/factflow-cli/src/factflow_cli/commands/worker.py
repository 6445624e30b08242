"""`factflow worker …` (docs/reference/cli.md): the processes that run route processors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .._calls import get_json, segment
from .._output import Column, format_count, format_time, make_panel, make_table, print_json, print_renderable
from .._state import CliState, output_option, pass_state

if TYPE_CHECKING:
    from rich.text import Text

    from factflow_protocols import JSONObject

__all__ = ("worker",)

_LIST_COLUMNS = (
    Column("ID", key=True),
    Column("STATE"),
    Column("POOLS"),
    Column("HOST"),
    Column("PID", justify="right"),
    Column("ROUTES", justify="right"),
    Column("IN FLIGHT", justify="right"),
    Column("HANDLED", justify="right"),
    Column("HEARTBEAT", justify="right"),
    Column("VERSION"),
)
_ROUTE_COLUMNS = (Column("EXECUTION", key=True), Column("ROUTE", key=True))
_STATE_STYLES = {"running": "green", "draining": "yellow", "dead": "red"}


def _state(value: object) -> Text:
    from rich.text import Text

    text = str(value or "")
    return Text(text, style=_STATE_STYLES.get(text, ""))


def _age(seconds: object) -> str:
    """`0.4s ago`, `3m05s ago`; empty when unknown."""
    if not isinstance(seconds, int | float):
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s ago"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s ago"


def _worker_id(info: JSONObject) -> str:
    marker = " (local)" if info.get("local") else ""
    return f"{info.get('id')}{marker}"


@click.group()
def worker() -> None:
    """Workers: the server's local worker and `factflow-server worker` processes."""


@worker.command("list")
@output_option
@pass_state
def list_workers(state: CliState) -> None:
    """List running, draining and recently dead workers (GET /workers)."""
    body = get_json(state, "/workers")
    if state.mode == "json":
        print_json(body)
        return
    rows = [
        (
            _worker_id(info),
            _state(info.get("state")),
            ",".join(info.get("pools") or []),
            info.get("host"),
            info.get("pid"),
            len(info.get("routes") or []),
            format_count(info.get("in_flight")),
            format_count(info.get("handled")),
            _age(info.get("heartbeat_age_seconds")),
            info.get("version"),
        )
        for info in body.get("workers") or []
    ]
    print_renderable(make_table(_LIST_COLUMNS, rows))


@worker.command("get")
@click.argument("worker_id", metavar="ID")
@output_option
@pass_state
def get(state: CliState, worker_id: str) -> None:
    """Show one worker and the routes it runs (GET /workers/{id}); exit 7 when unknown."""
    info = get_json(state, f"/workers/{segment(worker_id)}")
    if state.mode == "json":
        print_json(info)
        return
    panel = make_panel(
        [
            ("ID", _worker_id(info)),
            ("STATE", _state(info.get("state"))),
            ("POOLS", ", ".join(info.get("pools") or [])),
            ("HOST", info.get("host")),
            ("PID", info.get("pid")),
            ("VERSION", info.get("version")),
            ("STARTED", format_time(info.get("started_at"))),
            ("HEARTBEAT", f"{format_time(info.get('last_heartbeat'))} ({_age(info.get('heartbeat_age_seconds'))})"),
            ("IN FLIGHT", format_count(info.get("in_flight"))),
            ("HANDLED", format_count(info.get("handled"))),
        ]
    )
    routes = [(route.get("execution_id"), route.get("route_id")) for route in info.get("routes") or []]
    print_renderable(panel, make_table(_ROUTE_COLUMNS, routes, title="ROUTES"))
