"""The `factflow` entry point: the root click group, its global options and error handling.

Command groups live in `factflow_cli.commands.<group>`; each is a `click.Group` added to
`cli` below. Heavy imports (httpx, rich, the engine) happen inside commands, so start-up
stays fast.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from ._durations import Duration
from ._errors import CliError, print_error
from ._exit_codes import ExitCode
from ._output import OUTPUT_MODES, OutputMode, detect_mode
from ._state import DEFAULT_SERVER_URL, CliState
from ._version import cli_version
from .commands.adapter import adapter
from .commands.config import config
from .commands.execution import execution
from .commands.lineage import lineage
from .commands.pipeline import pipeline
from .commands.storage import storage
from .commands.system import system
from .commands.worker import worker

__all__ = ("cli", "main")


class _RootGroup(click.Group):
    """Turns `CliError` into its printed form and exit code, and Ctrl+C into exit 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            state = ctx.find_object(CliState)
            print_error(error, state.mode if state is not None else detect_mode(None))
            ctx.exit(int(error.exit_code))
        except KeyboardInterrupt:
            click.echo(err=True)
            ctx.exit(int(ExitCode.CTRL_C))


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"factflow {cli_version()}")
        ctx.exit(0)


@click.group(cls=_RootGroup)
@click.option(
    "--server",
    envvar="FACTFLOW_SERVER_URL",
    default=DEFAULT_SERVER_URL,
    show_default=True,
    metavar="URL",
    help="Server base URL ($FACTFLOW_SERVER_URL); /api/v1 is appended.",
)
@click.option(
    "--token", envvar="FACTFLOW_API_TOKEN", default=None, metavar="TOKEN", help="API token ($FACTFLOW_API_TOKEN)."
)
@click.option(
    "--timeout",
    type=Duration(),
    default=None,
    metavar="DURATION",
    help="250ms, 30s, 5m, 1h30m or seconds. Per HTTP exchange (default 30s); overall for waits (default 5m).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(OUTPUT_MODES),
    default=None,
    help="Output format (default: table on a terminal, JSON otherwise).",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version and exit.",
)
@click.pass_context
def cli(ctx: click.Context, server: str, token: str | None, timeout: float | None, output: OutputMode | None) -> None:
    """factflow: validate pipelines and drive a factflow server."""
    ctx.obj = CliState(server=server, token=token or None, timeout=timeout, output=output)


for _group in (config, execution, pipeline, storage, lineage, system, adapter, worker):
    cli.add_command(_group)


class _LevelPrefixFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _configure_logging() -> None:
    # Library warnings (e.g. an adapter package that fails to import) go to stderr as one line each.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LevelPrefixFormatter())
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def main() -> None:
    """Console-script entry point (`factflow`)."""
    _configure_logging()
    cli(prog_name="factflow")
