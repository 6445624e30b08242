"""`factflow execution …` (docs/reference/cli.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .._calls import call, get_json, segment
from .._listing import cursor_options, fetch_list, footer_args
from .._output import (
    Column,
    format_concurrency,
    format_count,
    format_duration_ms,
    format_flag,
    format_json_inline,
    format_time,
    make_panel,
    make_table,
    paging_footer,
    print_json,
    print_line,
    print_renderable,
)
from .._state import CliState, output_option, paging_options, pass_state

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

    from factflow_protocols import JSONObject

__all__ = ("execution",)

STATUSES = ("running", "completed", "failed", "cancelled", "interrupted")

_LIST_COLUMNS = (
    Column("ID", key=True),
    Column("STATUS"),
    Column("CONFIG", text=True),
    Column("TAG", key=True),
    Column("SOURCE"),
    Column("STARTED"),
    Column("DURATION", justify="right"),
    Column("PARENT", key=True),
)
_ROUTE_PROGRESS_COLUMNS = (
    Column("ROUTE", key=True),
    Column("STATE"),
    Column("PAUSED"),
    Column("TOTAL", justify="right"),
    Column("COMPLETED", justify="right"),
    Column("FAILED", justify="right"),
    Column("IN PROGRESS", justify="right"),
    Column("AVG MS", justify="right"),
)
_EDGE_COLUMNS = (
    Column("FROM", key=True),
    Column("TO", key=True),
    Column("QUEUE", key=True),
    Column("CONDITION", text=True),
)
_STATS_COLUMNS = (
    Column("ROUTE", key=True),
    Column("ADAPTER", key=True),
    Column("STAGE", key=True),
    Column("COUNT", justify="right"),
    Column("COMPLETED", justify="right"),
    Column("FAILED", justify="right"),
    Column("IN PROGRESS", justify="right"),
    Column("SKIPPED", justify="right"),
    Column("AVG MS", justify="right"),
)
_ROUTES_COLUMNS = (
    Column("ROUTE", key=True),
    Column("STATE"),
    Column("PAUSED"),
    Column("QUEUE", key=True),
    Column("POOL"),
    Column("WORKERS", key=True),
    Column("IN FLIGHT", justify="right"),
    Column("DEPTH", justify="right"),
    Column("CONCURRENCY", justify="right"),
    Column("COMPLETED", justify="right"),
    Column("FAILED", justify="right"),
)


def _ms(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) and not isinstance(value, bool) else ""


@click.group()
def execution() -> None:
    """Executions: list, inspect, wait for, cancel, replay."""


@execution.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only executions in this status.")
@paging_options(default=20)
@click.option("--config", "config_id", default=None, metavar="CONFIG_ID", help="Only executions of this config.")
@click.option("--parent", default=None, metavar="EXEC_ID", help="Only replays of this execution (id or tag).")
@cursor_options
@output_option
@pass_state
def list_executions(
    state: CliState,
    status: str | None,
    limit: int,
    offset: int,
    config_id: str | None,
    parent: str | None,
    cursor: str | None,
    all_pages: bool,
) -> None:
    """List executions, newest first (GET /executions)."""
    params = {"status": status, "config_id": config_id, "parent_execution_id": parent}
    page = fetch_list(
        state,
        "/executions",
        items="executions",
        params=params,
        limit=limit,
        offset=offset,
        cursor=cursor,
        all_pages=all_pages,
    )
    if state.mode == "json":
        print_json(page)
        return
    rows = [
        (
            item.get("id"),
            item.get("status"),
            item.get("config_name"),
            item.get("tag"),
            item.get("source"),
            format_time(item.get("started_at")),
            format_duration_ms(item.get("duration_ms")),
            item.get("parent_execution_id"),
        )
        for item in page.get("executions", [])
    ]
    print_renderable(make_table(_LIST_COLUMNS, rows))
    total = int(page.get("total", len(rows)))
    print_line(
        paging_footer(
            shown=len(rows), total=total, **footer_args(page, offset=offset, cursor=cursor, all_pages=all_pages)
        )
    )


def _messages_text(counts: object) -> str:
    if not isinstance(counts, dict):
        return ""
    return (
        f"published {format_count(counts.get('published'))}, handled {format_count(counts.get('handled'))}, "
        f"in flight {format_count(counts.get('in_flight'))}, dead-lettered {format_count(counts.get('dead_lettered'))}"
    )


def _error_text(error_info: object) -> str:
    if not isinstance(error_info, dict):
        return ""
    code, message = error_info.get("code"), error_info.get("message")
    return f"{code}: {message}" if code and message else str(code or message or "")


@execution.command("get")
@click.argument("exec_id")
@output_option
@pass_state
def get(state: CliState, exec_id: str) -> None:
    """Show one execution and its routes (GET /executions/{ref}); exit 0 whatever its status."""
    record = get_json(state, f"/executions/{segment(exec_id)}")
    if state.mode == "json":
        print_json(record)
        return
    config_text = f"{record.get('config_id')} ({record.get('config_name')}, v{record.get('config_version')})"
    renderables: list[RenderableType] = [
        make_panel(
            [
                ("ID", record.get("id")),
                ("STATUS", record.get("status")),
                ("CONFIG", config_text),
                ("TAG", record.get("tag")),
                ("SOURCE", record.get("source")),
                ("PARENT", record.get("parent_execution_id")),
                ("STARTED", format_time(record.get("started_at"))),
                ("COMPLETED", format_time(record.get("completed_at"))),
                ("DURATION", format_duration_ms(record.get("duration_ms"))),
                ("MESSAGES", _messages_text(record.get("message_counts"))),
                ("ERROR", _error_text(record.get("error_info"))),
            ]
        )
    ]
    replay = record.get("replay")
    if isinstance(replay, dict):
        renderables.append(
            make_panel(
                [
                    ("FROM EXECUTION", replay.get("from_execution_id")),
                    ("FROM", f"{replay.get('from_route')}/{replay.get('from_stage')}"),
                    ("MODE", replay.get("mode")),
                    ("TO", f"{replay.get('to_route')} → {replay.get('to_queue') or ''}"),
                    ("START AT ADAPTER", replay.get("start_at_adapter")),
                    ("BATCH", replay.get("replay_batch_id")),
                    (
                        "OBJECTS",
                        f"found {replay.get('objects_found')}, published {replay.get('objects_published')}, "
                        f"failed {replay.get('objects_failed')}",
                    ),
                    ("PUBLISH STATUS", replay.get("publish_status")),
                ],
                title="REPLAY",
            )
        )
    rows = [
        (
            route.get("route_id"),
            route.get("processor_state"),
            format_flag(route.get("paused")),
            route.get("total_messages"),
            route.get("completed"),
            route.get("failed"),
            route.get("in_progress"),
            _ms(route.get("avg_duration_ms")),
        )
        for route in record.get("routes") or []
    ]
    renderables.append(make_table(_ROUTE_PROGRESS_COLUMNS, rows))
    print_renderable(*renderables)


@execution.command("wait")
@click.argument("exec_id")
@output_option
@pass_state
def wait(state: CliState, exec_id: str) -> None:
    """Wait for an execution to stop, following its event stream.

    --timeout is the overall deadline (default 5m). Exit 0 completed, 1 failed, 3 cancelled,
    4 interrupted, 5 deadline reached (the execution keeps running), 6 unreachable, 7 unknown.
    """
    from .._waiting import wait_command

    wait_command(state, exec_id)


@execution.command("delete")
@click.argument("exec_id")
@click.option("--yes", "-y", "confirmed", is_flag=True, help="Do not ask for confirmation.")
@output_option
@pass_state
def delete(state: CliState, exec_id: str, confirmed: bool) -> None:
    """Delete a finished execution with its lineage, queues and stored objects (DELETE /executions/{ref}).

    Asks for confirmation on a terminal; elsewhere `--yes` is required. Exit 1 while the
    execution is running or interrupted, 7 when it does not exist.
    """
    import sys

    if not confirmed:
        if not sys.stdin.isatty():
            raise click.UsageError("deleting an execution needs --yes when not run from a terminal.")
        click.confirm(
            f"Delete execution {exec_id} with its lineage, queues and stored objects? This cannot be undone",
            abort=True,
            err=True,
        )
    body = call(state, lambda api: api.delete_json(f"/executions/{segment(exec_id)}"))
    if state.mode == "json":
        print_json(body)
        return
    print_line(
        f"Execution {body.get('execution_id')} deleted ({body.get('status')}): "
        f"{format_count(body.get('deleted_objects'))} stored objects, "
        f"{format_count(body.get('deleted_lineage_rows'))} lineage rows, "
        f"{format_count(body.get('deleted_queue_keys'))} queue keys."
    )


@execution.command("cancel")
@click.argument("exec_id")
@click.option("--reason", default=None, metavar="TEXT", help="Why (stored with the cancellation).")
@click.option("--wait", "wait_flag", is_flag=True, help="Then wait until it stopped (exit 0 on cancelled).")
@output_option
@pass_state
def cancel(state: CliState, exec_id: str, reason: str | None, wait_flag: bool) -> None:
    """Cancel an execution gracefully (POST /executions/{ref}/cancel).

    Exit 1 when it already completed or failed; cancelling a cancelled execution is a no-op.
    """
    body = {"reason": reason} if reason is not None else None
    answer = call(
        state,
        lambda api: api.post_json(f"/executions/{segment(exec_id)}/cancel", body),
        timeout_is_deadline=wait_flag,
    )
    if state.mode == "table":
        execution_id = answer.get("execution_id") or exec_id
        current = answer.get("current_status")
        if current == "cancelling":
            print_line(f"Cancellation requested for {execution_id} (status: cancelling)")
        else:
            print_line(f"Execution {execution_id} is {current} (was {answer.get('previous_status')}).")
    elif not wait_flag:
        print_json(answer)
    if wait_flag:
        from .._waiting import wait_command

        wait_command(state, str(answer.get("execution_id") or exec_id), cancelled_ok=True)


def _condition(value: object) -> str:
    return format_json_inline(value) if value else ""


@execution.command("dag")
@click.argument("exec_id")
@output_option
@pass_state
def dag(state: CliState, exec_id: str) -> None:
    """Show the route graph of an execution's snapshot (GET /executions/{ref}/dag)."""
    graph = get_json(state, f"/executions/{segment(exec_id)}/dag")
    if state.mode == "json":
        print_json(graph)
        return
    from rich.text import Text
    from rich.tree import Tree

    tree = Tree(Text(f"execution {graph.get('execution_id')}", style="bold"))
    for node in graph.get("nodes") or []:
        label = Text(f"{node.get('route_id')} — {node.get('name')} [{node.get('inbound_queue')}]")
        marks = [
            mark for mark, flag in (("init", node.get("is_init_route")), ("terminal", node.get("is_terminal"))) if flag
        ]
        if marks:
            label.append(f"  ({', '.join(marks)})", style="cyan")
        branch = tree.add(label)
        for adapter in node.get("adapters") or []:
            leaf = f"{adapter.get('index')}. {adapter.get('type')} ({adapter.get('stage')})"
            if adapter.get("condition"):
                leaf += f"  if {_condition(adapter['condition'])}"
            branch.add(Text(leaf))
        for outbound in node.get("outbound") or []:
            text = f"→ {outbound.get('queue')}"
            if outbound.get("condition"):
                text += f"  if {_condition(outbound['condition'])}"
            branch.add(Text(text, style="dim"))
    edges = [
        (edge.get("from_route"), edge.get("to_route"), edge.get("queue"), _condition(edge.get("condition")))
        for edge in graph.get("edges") or []
    ]
    print_renderable(tree, make_table(_EDGE_COLUMNS, edges))


@execution.command("stats")
@click.argument("exec_id")
@output_option
@pass_state
def stats(state: CliState, exec_id: str) -> None:
    """Show counters and per-adapter statistics (GET /executions/{ref}/stats)."""
    body = get_json(state, f"/executions/{segment(exec_id)}/stats")
    if state.mode == "json":
        print_json(body)
        return
    rate = body.get("success_rate")
    throughput = body.get("throughput_per_second")
    counts = body.get("message_counts") or {}
    summary = (
        f"{body.get('execution_id')}  {body.get('status')}  "
        f"elapsed {format_duration_ms(body.get('elapsed_ms'))}  "
        f"success rate {'' if rate is None else f'{rate * 100:.1f}%'}  "
        f"throughput {'' if throughput is None else f'{throughput:.2f}/s'}  "
        f"in flight {format_count(counts.get('in_flight'))}"
    )
    rows = [
        (
            item.get("route_id"),
            item.get("adapter_name"),
            item.get("stage_name"),
            item.get("count"),
            item.get("completed"),
            item.get("failed"),
            int(item.get("pending") or 0) + int(item.get("processing") or 0),
            item.get("skipped"),
            _ms(item.get("avg_duration_ms")),
        )
        for item in body.get("adapters") or []
    ]
    print_line(summary)
    print_renderable(make_table(_STATS_COLUMNS, rows))


@execution.command("routes")
@click.argument("exec_id")
@output_option
@pass_state
def routes(state: CliState, exec_id: str) -> None:
    """Show each route's processor, queue and progress (GET /executions/{ref}/routes)."""
    body = get_json(state, f"/executions/{segment(exec_id)}/routes")
    if state.mode == "json":
        print_json(body)
        return
    rows = [
        (
            route.get("route_id"),
            route.get("processor_state"),
            format_flag(route.get("paused")),
            route.get("inbound_queue"),
            route.get("pool"),
            _route_workers(route),
            route.get("in_flight"),
            route.get("queue_depth"),
            format_concurrency(route.get("concurrency")),
            route.get("completed"),
            route.get("failed"),
        )
        for route in body.get("routes") or []
    ]
    print_renderable(make_table(_ROUTES_COLUMNS, rows))


def _route_workers(route: JSONObject) -> Text | str:
    """The ids of the workers running a route, or a yellow `waiting for a worker` when its pool has none."""
    if route.get("waiting_for_worker"):
        from rich.text import Text

        return Text("waiting for a worker", style="yellow")
    return ",".join(route.get("workers") or [])


@execution.command("replay")
@click.argument("exec_id")
@click.option("--from-stage", required=True, metavar="STAGE", help="Stage whose stored outputs are replayed.")
@click.option("--from-route", default=None, metavar="ROUTE", help="Route of that stage (when several have it).")
@click.option("--to-route", default=None, metavar="ROUTE", help="Cross-pipeline: the route the messages enter.")
@click.option("--config-id", default=None, metavar="CONFIG_ID", help="Run this config's current version instead.")
@click.option("--tag", default=None, help="Unique label for the new execution.")
@click.option("--from-path", default=None, metavar="PATH", help="Only objects whose file name starts with this.")
@click.option("--wait", "wait_flag", is_flag=True, help="Then wait for the new execution like `execution wait`.")
@output_option
@pass_state
def replay(
    state: CliState,
    exec_id: str,
    from_stage: str,
    from_route: str | None,
    to_route: str | None,
    config_id: str | None,
    tag: str | None,
    from_path: str | None,
    wait_flag: bool,
) -> None:
    """Replay stored stage output of an execution into a new one (POST /executions/{ref}/replay).

    Without --to-route the same pipeline continues after the stage; with it, the messages enter
    that route (cross-pipeline). Exit 1 for replay errors, 7 for an unknown execution or config
    or when nothing is stored under the stage.
    """
    body = {
        key: value
        for key, value in {
            "from_stage": from_stage,
            "from_route": from_route,
            "to_route": to_route,
            "config_id": config_id,
            "tag": tag,
            "from_path": from_path,
        }.items()
        if value is not None
    }
    created = call(
        state,
        lambda api: api.post_json(f"/executions/{segment(exec_id)}/replay", body),
        timeout_is_deadline=wait_flag,
    )
    if state.mode == "table":
        print_renderable(_replay_panel(created))
    elif not wait_flag:
        print_json(created)
    if wait_flag:
        from .._waiting import wait_command

        wait_command(state, str(created.get("execution_id") or created.get("id")))


def _replay_panel(created: JSONObject) -> RenderableType:
    info = created.get("replay") or {}
    return make_panel(
        [
            ("NEW EXECUTION", created.get("execution_id") or created.get("id")),
            ("PARENT", created.get("parent_execution_id") or info.get("from_execution_id")),
            ("MODE", info.get("mode")),
            ("FROM", f"{info.get('from_route')}/{info.get('from_stage')}"),
            ("TO", f"{info.get('to_route')} → {info.get('to_queue') or ''}"),
            ("START AT ADAPTER", info.get("start_at_adapter")),
            ("OBJECTS FOUND", info.get("objects_found")),
            ("BATCH", info.get("replay_batch_id") or created.get("replay_batch_id")),
            ("STATUS", created.get("status")),
        ]
    )
