"""`--cursor` and `--all` of the list commands (docs/reference/cli.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._calls import PAGE_LIMIT, call, fetch_all_pages, get_json
from ._state import CliState

if TYPE_CHECKING:
    from factflow_protocols import JSONObject

__all__ = ("cursor_options", "fetch_list", "footer_args")

F = TypeVar("F", bound=Callable[..., Any])


def cursor_options(command: F) -> F:
    """Adds `--cursor` (continue after a page) and `--all` (follow every page) to a list command."""
    cursor = click.option(
        "--cursor",
        default=None,
        metavar="CURSOR",
        help="Continue after the page that printed this cursor (its `next_cursor`).",
    )
    all_pages = click.option(
        "--all", "all_pages", is_flag=True, help="Follow every page to the end (JSON: one merged document)."
    )
    return cursor(all_pages(command))


def _given(name: str) -> bool:
    context = click.get_current_context(silent=True)
    if context is None or name not in context.params:
        return False
    return context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


def fetch_list(
    state: CliState,
    path: str,
    *,
    items: str,
    params: Mapping[str, Any],
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
    all_pages: bool = False,
) -> JSONObject:
    """One page (by `--offset` or `--cursor`), or with `--all` every page merged, of a list.

    With `--all` the pages hold 1000 items, or `--limit` when it is given, and a progress bar
    runs on stderr when it is a terminal.

    Raises:
        click.UsageError: `--cursor` or `--all` together with `--offset` (exit 2).
    """
    if _given("offset") and (cursor is not None or all_pages):
        raise click.UsageError("--offset cannot be combined with --cursor or --all.")
    if not all_pages:
        position: JSONObject = {"cursor": cursor} if cursor is not None else {"offset": offset}
        page: JSONObject = get_json(state, path, params={**params, "limit": limit, **position})
        return page
    size = limit if _given("limit") else PAGE_LIMIT
    if not sys.stderr.isatty():
        return call(
            state, lambda api: fetch_all_pages(api, path, items=items, params=params, limit=size, cursor=cursor)
        )
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ._output import stderr_console

    with Progress(
        TextColumn("fetching"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=True,
    ) as progress:
        task = progress.add_task("pages", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=max(total, done))

        return call(
            state,
            lambda api: fetch_all_pages(
                api, path, items=items, params=params, limit=size, cursor=cursor, progress=advance
            ),
        )


def footer_args(page: Mapping[str, Any], *, offset: int, cursor: str | None, all_pages: bool) -> JSONObject:
    """Keyword arguments of `paging_footer` for a page `fetch_list` returned."""
    return {
        "offset": 0 if all_pages else offset,
        "next_cursor": page.get("next_cursor"),
        "by_cursor": cursor is not None and not all_pages,
    }
