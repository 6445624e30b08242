"""`factflow storage …` (docs/reference/cli.md): list, browse, read, watch and download stored objects."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .._calls import get_json, object_path
from .._listing import cursor_options, fetch_list, footer_args
from .._output import (
    OUTPUT_MODES,
    Column,
    OutputMode,
    format_size,
    format_time,
    make_table,
    paging_footer,
    print_json,
    print_line,
    print_renderable,
)
from .._state import CliState, output_option, paging_options, pass_state

__all__ = ("storage",)

_LIST_COLUMNS = (Column("KEY", key=True), Column("SIZE", justify="right"), Column("TYPE"), Column("MODIFIED"))
_FOLDER_COLUMNS = (
    Column("PREFIX", key=True),
    Column("EXECUTION STATUS"),
    Column("CONFIG", text=True),
    Column("STARTED"),
)
_OBJECT_COLUMNS = (Column("NAME", key=True), Column("SIZE", justify="right"), Column("MODIFIED"))
_FIELD_COLUMNS = (Column("FIELD", key=True), Column("VALUE", key=True))


@click.group()
def storage() -> None:
    """Stored stage outputs: list, browse, read, watch, download."""


@storage.command("list")
@click.option("--execution", "execution_ref", required=True, metavar="EXEC_ID", help="Execution id or tag.")
@click.option("--route", default=None, metavar="R", help="Only this route's objects.")
@click.option("--stage", default=None, metavar="S", help="Only this stage's objects.")
@paging_options(default=100, maximum=1000)
@cursor_options
@output_option
@pass_state
def list_objects(
    state: CliState,
    execution_ref: str,
    route: str | None,
    stage: str | None,
    limit: int,
    offset: int,
    cursor: str | None,
    all_pages: bool,
) -> None:
    """List an execution's stored objects in key order (GET /storage/objects)."""
    params = {"execution_id": execution_ref, "route_id": route, "stage": stage, "include_metadata": False}
    page = fetch_list(
        state,
        "/storage/objects",
        items="objects",
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
            item.get("key"),
            format_size(item.get("size")),
            item.get("content_type"),
            format_time(item.get("last_modified")),
        )
        for item in page.get("objects", [])
    ]
    print_renderable(make_table(_LIST_COLUMNS, rows))
    footer = footer_args(page, offset=offset, cursor=cursor, all_pages=all_pages)
    print_line(paging_footer(shown=len(rows), total=int(page.get("total", len(rows))), **footer))


@storage.command("browse")
@click.argument("prefix", required=False, default="")
@paging_options(default=100, maximum=1000)
@output_option
@pass_state
def browse(state: CliState, prefix: str, limit: int, offset: int) -> None:
    """Browse storage like folders: sub-prefixes (with their execution) and objects under PREFIX."""
    folder = prefix.strip("/") + "/" if prefix.strip("/") else ""
    params = {
        "prefix": folder,
        "delimiter": "/",
        "include_execution_info": True,
        "include_metadata": False,
        "limit": limit,
        "offset": offset,
    }
    page = get_json(state, "/storage/objects", params=params)
    if state.mode == "json":
        print_json(page)
        return
    executions = {item.get("prefix"): item for item in page.get("execution_prefixes") or []}
    folders = []
    for common in page.get("common_prefixes") or []:
        info = executions.get(common) or {}
        config_name = info.get("config_name") or ""
        if info.get("tag"):
            config_name = f"{config_name} ({info['tag']})"
        folders.append((common, info.get("status"), config_name, format_time(info.get("started_at"))))
    objects = [
        (
            str(item.get("key", ""))[len(folder) :],
            format_size(item.get("size")),
            format_time(item.get("last_modified")),
        )
        for item in page.get("objects") or []
    ]
    tables = []
    if folders or not objects:
        tables.append(make_table(_FOLDER_COLUMNS, folders))
    if objects:
        tables.append(make_table(_OBJECT_COLUMNS, objects))
    print_renderable(*tables)
    shown = len(folders) + len(objects)
    print_line(paging_footer(offset=offset, shown=shown, total=int(page.get("total", shown))))


# ---------------------------------------------------------------- get and metadata


@storage.command("get")
@click.argument("key")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Choice(OUTPUT_MODES),
    default=None,
    help="json: key, type, size, metadata and the content; table: a panel and the pretty content. "
    "Default: the raw bytes.",
)
@pass_state
def get(state: CliState, key: str, output: OutputMode | None) -> None:
    """Print a stored object: its raw bytes by default (byte exact, also into a pipe or file).

    Non-UTF-8 content is refused on a terminal (exit 1); redirect it to a file instead.
    """
    from .._objects import print_object_json, print_object_table, write_raw

    state.command_output = output
    mode = output or state.output
    if mode is None:
        write_raw(state, key)
    elif mode == "json":
        print_object_json(state, key)
    else:
        print_object_table(state, key)


@storage.command("metadata")
@click.argument("key")
@output_option
@pass_state
def metadata(state: CliState, key: str) -> None:
    """Show an object's metadata: writer, times, checksum, lineage, custom fields (GET …/metadata)."""
    from .._objects import metadata_rows

    body = get_json(state, object_path(key) + "/metadata")
    if state.mode == "json":
        print_json(body)
        return
    print_renderable(make_table(_FIELD_COLUMNS, metadata_rows(body)))


# ---------------------------------------------------------------- watch and download


@storage.command("watch")
@click.option("--execution", "execution_ref", required=True, metavar="EXEC_ID", help="Execution id or tag.")
@click.option("--route", default=None, metavar="R", help="Only this route's writes.")
@click.option("--stage", default=None, metavar="S", help="Only this stage's writes.")
@output_option
@pass_state
def watch(state: CliState, execution_ref: str, route: str | None, stage: str | None) -> None:
    """Print storage writes of an execution as they happen, until it stops (JSON: NDJSON).

    Exit 0 when the execution reached a final status (at once if it already had) and on
    Ctrl+C; 5 when a given --timeout is reached first.
    """
    from .._watch import watch_storage

    try:
        watch_storage(state, execution_ref, route=route, stage=stage)
    except KeyboardInterrupt:
        sys.stdout.flush()
        raise click.exceptions.Exit(0) from None


@storage.command("download")
@click.argument("exec_id")
@click.option(
    "-d",
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Directory to write DIR/<key> into (created when missing).",
)
@click.option("--route", default=None, metavar="R", help="Only this route's objects.")
@click.option("--stage", default=None, metavar="S", help="Only this stage's objects.")
@click.option("--include-metadata", is_flag=True, help="Also write <file>.meta.json with each object's metadata.")
@click.option("--overwrite", is_flag=True, help="Replace existing files (default: skip them).")
@click.option("--concurrency", type=click.IntRange(1, 32), default=8, show_default=True, help="Parallel downloads.")
@output_option
@pass_state
def download(
    state: CliState,
    exec_id: str,
    output_dir: Path,
    route: str | None,
    stage: str | None,
    include_metadata: bool,
    overwrite: bool,
    concurrency: int,
) -> None:
    """Download an execution's objects, keeping the key hierarchy under DIR.

    --timeout applies per object (default 30s). Exit 1 if any object failed, 7 for an unknown
    execution.
    """
    from .._download import DownloadOptions, download_command

    download_command(
        state,
        DownloadOptions(
            execution_ref=exec_id,
            output_dir=output_dir,
            route=route,
            stage=stage,
            include_metadata=include_metadata,
            overwrite=overwrite,
            concurrency=concurrency,
        ),
    )
