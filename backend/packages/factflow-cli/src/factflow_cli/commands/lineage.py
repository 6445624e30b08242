"""`factflow lineage …` (docs/reference/cli.md): what happened to each message, adapter by adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .._calls import call, fetch_all_pages, get_json, segment
from .._listing import cursor_options, fetch_list, footer_args
from .._output import (
    Column,
    format_duration_ms,
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

__all__ = ("lineage",)

STAGE_STATUSES = ("pending", "processing", "completed", "failed", "skipped", "cancelled")
TRACEBACK_LINES = 20

_ENTRY_COLUMNS = (
    Column("ID", key=True),
    Column("CORRELATION ID", key=True),
    Column("ROUTE", key=True),
    Column("ADAPTER", key=True),
    Column("STAGE", key=True),
    Column("STATUS"),
    Column("STARTED"),
    Column("DURATION", justify="right"),
    Column("ERROR"),
)
_MESSAGE_ROW_COLUMNS = (
    Column("#", justify="right"),
    Column("ADAPTER", key=True),
    Column("STAGE", key=True),
    Column("STATUS"),
    Column("STARTED"),
    Column("DURATION", justify="right"),
    Column("DELIVERIES", justify="right"),
    Column("STORAGE KEY", key=True),
)
_CHILDREN_COLUMNS = (
    Column("CORRELATION ID", key=True),
    Column("ROUTE", key=True),
    Column("STAGES", justify="right"),
    Column("STATUS"),
    Column("STARTED"),
    Column("COMPLETED"),
)
_FAILURE_COLUMNS = (
    Column("ID", key=True),
    Column("EXECUTION", key=True),
    Column("ROUTE", key=True),
    Column("ADAPTER", key=True),
    Column("STAGE", key=True),
    Column("FAILED AT"),
    Column("ERROR"),
    Column("MESSAGE", text=True),
)
_STATS_COLUMNS = (
    Column("ROUTE", key=True),
    Column("ADAPTER", key=True),
    Column("COUNT"),
    Column("COMPLETED"),
    Column("FAILED"),
)


def _error_type(entry: JSONObject) -> str:
    info = entry.get("error_info")
    return str(info.get("error_type") or "") if isinstance(info, dict) else ""


def _first_line(text: object) -> str:
    return str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""


def _by_start(entries: list[JSONObject]) -> list[JSONObject]:
    # The API orders a message's rows by adapter index; across routes, time tells the path taken.
    return sorted(entries, key=lambda entry: str(entry.get("started_at") or ""))


def _entry_rows(entries: list[JSONObject]) -> list[tuple[object, ...]]:
    return [
        (
            entry.get("id"),
            entry.get("correlation_id"),
            entry.get("route_id"),
            entry.get("adapter_name"),
            entry.get("stage_name"),
            entry.get("stage_status"),
            format_time(entry.get("started_at")),
            format_duration_ms(entry.get("duration_ms")),
            _error_type(entry),
        )
        for entry in entries
    ]


def _print_entries(
    page: JSONObject,
    offset: int,
    *,
    title: str | None = None,
    next_cursor: str | None = None,
    by_cursor: bool = False,
) -> None:
    entries = page.get("entries") or []
    print_renderable(make_table(_ENTRY_COLUMNS, _entry_rows(entries), title=title))
    total = int(page.get("total", len(entries)))
    print_line(
        paging_footer(offset=offset, shown=len(entries), total=total, next_cursor=next_cursor, by_cursor=by_cursor)
    )


@click.group()
def lineage() -> None:
    """Lineage: what happened to each message, adapter by adapter."""


@lineage.command("list")
@click.option("--execution", "execution_ref", required=True, metavar="EXEC_ID", help="Execution id or tag.")
@click.option("--status", type=click.Choice(STAGE_STATUSES), default=None, help="Only rows in this status.")
@click.option("--adapter", default=None, metavar="NAME", help="Only rows of this adapter type.")
@click.option("--route", default=None, metavar="R", help="Only rows of this route.")
@click.option("--stage", default=None, metavar="S", help="Only rows of this stage.")
@paging_options(default=100, maximum=1000)
@cursor_options
@output_option
@pass_state
def list_entries(
    state: CliState,
    execution_ref: str,
    status: str | None,
    adapter: str | None,
    route: str | None,
    stage: str | None,
    limit: int,
    offset: int,
    cursor: str | None,
    all_pages: bool,
) -> None:
    """List an execution's lineage rows (GET /lineage)."""
    params = {
        "execution_id": execution_ref,
        "status": status,
        "adapter_name": adapter,
        "route_id": route,
        "stage_name": stage,
    }
    page = fetch_list(
        state,
        "/lineage",
        items="entries",
        params=params,
        limit=limit,
        offset=offset,
        cursor=cursor,
        all_pages=all_pages,
    )
    if state.mode == "json":
        print_json(page)
        return
    footer = footer_args(page, offset=offset, cursor=cursor, all_pages=all_pages)
    _print_entries(page, footer["offset"], next_cursor=footer["next_cursor"], by_cursor=footer["by_cursor"])


@lineage.command("get")
@click.argument("lineage_id", metavar="ID")
@output_option
@pass_state
def get(state: CliState, lineage_id: str) -> None:
    """Show one message with every adapter row (GET /lineage/{id}); ID is a row id or a message id."""
    message = get_json(state, f"/lineage/{segment(lineage_id)}")
    if state.mode == "json":
        print_json(message)
        return
    from rich.text import Text

    requested = message.get("requested_entry_id")
    entries = message.get("entries") or []
    rows = []
    for entry in entries:
        style = "bold reverse" if requested and entry.get("id") == requested else ""
        cells = (
            entry.get("adapter_index"),
            entry.get("adapter_name"),
            entry.get("stage_name"),
            entry.get("stage_status"),
            format_time(entry.get("started_at")),
            format_duration_ms(entry.get("duration_ms")),
            entry.get("delivery_count"),
            entry.get("storage_key"),
        )
        rows.append(tuple(Text("" if cell is None else str(cell), style=style) for cell in cells))
    renderables: list[RenderableType] = [
        make_panel(
            [
                ("CORRELATION ID", message.get("correlation_id")),
                ("PARENT", message.get("parent_correlation_id")),
                ("EXECUTION", message.get("execution_id")),
                ("STATUS", message.get("status")),
                ("STARTED", format_time(message.get("started_at"))),
                ("COMPLETED", format_time(message.get("completed_at"))),
            ]
        ),
        make_table(_MESSAGE_ROW_COLUMNS, rows),
    ]
    for entry in entries:
        info = entry.get("error_info")
        if entry.get("stage_status") == "failed" and isinstance(info, dict):
            lines = str(info.get("traceback") or "").rstrip().splitlines()[-TRACEBACK_LINES:]
            text = Text()
            text.append(f"{info.get('error_type') or 'error'}: ", style="bold red")
            text.append(str(info.get("message") or ""))
            if lines:
                text.append("\n" + "\n".join(lines), style="dim")
            renderables.append(
                make_panel([("ERROR", text)], title=f"#{entry.get('adapter_index')} {entry.get('adapter_name')}")
            )
    print_renderable(*renderables)


def _node_label(node: JSONObject, *, addressed: bool, show_execution: bool) -> Text:
    from rich.text import Text

    entries = _by_start(node.get("entries") or [])
    last = entries[-1] if entries else {}
    label = Text(style="bold" if addressed else "")
    label.append(str(node.get("correlation_id")))
    label.append(f"  {last.get('route_id', '')}/{last.get('stage_name', '')}  {node.get('status')}")
    if show_execution:
        label.append(f"  [execution {node.get('execution_id')}]", style="cyan")
    return label


@lineage.command("chain")
@click.argument("lineage_id", metavar="ID")
@click.option("--max-depth", type=click.IntRange(1, 1000), default=None, help="Levels per direction (API default 100).")
@output_option
@pass_state
def chain(state: CliState, lineage_id: str, max_depth: int | None) -> None:
    """Show a message's ancestors and descendants as a tree (GET /lineage/{id}/chain)."""
    body = get_json(state, f"/lineage/{segment(lineage_id)}/chain", params={"max_depth": max_depth})
    if state.mode == "json":
        print_json(body)
        return
    from rich.tree import Tree

    message = body.get("message") or {}
    nodes = [*(body.get("ancestors") or []), message, *(body.get("descendants") or [])]
    children: dict[str | None, list[JSONObject]] = {}
    known = {node.get("correlation_id") for node in nodes}
    for node in nodes:
        parent = node.get("parent_correlation_id")
        children.setdefault(parent if parent in known else None, []).append(node)
    addressed = message.get("correlation_id")
    roots = children.get(None, [])
    trees: list[RenderableType] = []
    for root in roots:
        tree = Tree(_node_label(root, addressed=root.get("correlation_id") == addressed, show_execution=True))
        stack: list[tuple[Any, JSONObject]] = [(tree, root)]
        while stack:
            branch, node = stack.pop(0)
            for child in children.get(node.get("correlation_id"), []):
                label = _node_label(
                    child,
                    addressed=child.get("correlation_id") == addressed,
                    show_execution=child.get("execution_id") != node.get("execution_id"),
                )
                stack.append((branch.add(label), child))
        trees.append(tree)
    print_renderable(*trees)
    if body.get("truncated"):
        print_line("(truncated: raise --max-depth to see more)")


@lineage.command("children")
@click.argument("lineage_id", metavar="ID")
@output_option
@pass_state
def children_of(state: CliState, lineage_id: str) -> None:
    """List a message's direct children, every page (GET /lineage/{id}/children)."""
    path = f"/lineage/{segment(lineage_id)}/children"
    body = call(state, lambda api: fetch_all_pages(api, path, items="children"))
    if state.mode == "json":
        print_json(body)
        return
    rows = []
    for child in body.get("children") or []:
        entries = _by_start(child.get("entries") or [])
        routes = list(dict.fromkeys(str(entry.get("route_id")) for entry in entries))
        rows.append(
            (
                child.get("correlation_id"),
                ", ".join(routes),
                len(entries),
                child.get("status"),
                format_time(child.get("started_at")),
                format_time(child.get("completed_at")),
            )
        )
    print_renderable(make_table(_CHILDREN_COLUMNS, rows))


@lineage.command("failures")
@click.option("--execution", "execution_ref", default=None, metavar="EXEC_ID", help="Only this execution (id or tag).")
@click.option("--route", default=None, metavar="R", help="Only this route.")
@click.option("--adapter", default=None, metavar="NAME", help="Only this adapter type.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Rows to show.")
@cursor_options
@output_option
@pass_state
def failures(
    state: CliState,
    execution_ref: str | None,
    route: str | None,
    adapter: str | None,
    limit: int,
    cursor: str | None,
    all_pages: bool,
) -> None:
    """List failed rows, newest first (GET /lineage/failures); exit 0 even when there are some."""
    params = {"execution_id": execution_ref, "route_id": route, "adapter_name": adapter}
    page = fetch_list(
        state, "/lineage/failures", items="entries", params=params, limit=limit, cursor=cursor, all_pages=all_pages
    )
    if state.mode == "json":
        print_json(page)
        return
    rows = [
        (
            entry.get("id"),
            entry.get("execution_id"),
            entry.get("route_id"),
            entry.get("adapter_name"),
            entry.get("stage_name"),
            format_time(entry.get("completed_at") or entry.get("started_at")),
            _error_type(entry),
            _first_line((entry.get("error_info") or {}).get("message")),
        )
        for entry in page.get("entries") or []
    ]
    print_renderable(make_table(_FAILURE_COLUMNS, rows))
    footer = footer_args(page, offset=0, cursor=cursor, all_pages=all_pages)
    print_line(paging_footer(shown=len(rows), total=int(page.get("total", len(rows))), **footer))


@lineage.command("stats")
@click.option("--execution", "execution_ref", required=True, metavar="EXEC_ID", help="Execution id or tag.")
@output_option
@pass_state
def stats(state: CliState, execution_ref: str) -> None:
    """Count rows per route and adapter (GET /lineage/stats)."""
    body = get_json(state, "/lineage/stats", params={"execution_id": execution_ref})
    if state.mode == "json":
        print_json(body)
        return
    rows = [
        (row.get("route_id"), row.get("adapter_name"), row.get("count"), row.get("completed"), row.get("failed"))
        for row in body.get("rows") or []
    ]
    print_renderable(make_table(_STATS_COLUMNS, rows))


@lineage.command("batch")
@click.argument("batch_id")
@paging_options(default=1000, maximum=10000)
@output_option
@pass_state
def batch(state: CliState, batch_id: str, limit: int, offset: int) -> None:
    """List the rows of a replay or adapter batch (GET /lineage/batch/{batch_id})."""
    page = get_json(state, f"/lineage/batch/{segment(batch_id)}", params={"limit": limit, "offset": offset})
    if state.mode == "json":
        print_json(page)
        return
    _print_entries(page, offset, title=f"BATCH {page.get('batch_id') or batch_id} ({page.get('kind')})")
