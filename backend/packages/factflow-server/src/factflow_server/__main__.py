"""`factflow-server serve` / `python -m factflow_server serve` (docs/reference/cli.md)."""

from __future__ import annotations

import sys

import click
from pydantic import ValidationError

from factflow_foundation import FactflowSettings, configure_logging
from factflow_foundation.settings_reference import describe_settings

from ._settings import MissingBackendsError, effective_settings
from ._version import SERVER_VERSION

__all__ = ("main",)

_LEVELS = ("debug", "info", "warning", "error")


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(SERVER_VERSION, prog_name="factflow-server")
@click.pass_context
def main(ctx: click.Context) -> None:
    """The factflow server."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit(2)


def _settings_epilog() -> str:
    """Every setting with its environment variable and default, for `serve --help`."""
    lines = ["\b", "Settings (environment variables, also read from ./.env; options above win):"]
    for info in describe_settings():
        lines.append(f"  {info.env_var}  [default: {info.default}]")
        lines.append(f"      {info.description}")
    return "\n".join(lines)


@main.command(epilog=_settings_epilog())
@click.option("--embedded", is_flag=True, help="Local defaults: SQLite, memory queue, files under FACTFLOW_DATA_DIR.")
@click.option("--host", default=None, help="Bind address (FACTFLOW_HOST, else 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Bind port (FACTFLOW_PORT, else 8000).")
@click.option(
    "--log-level",
    default=None,
    type=click.Choice(_LEVELS, case_sensitive=False),
    help="Log level (FACTFLOW_LOG_LEVEL, else info).",
)
def serve(embedded: bool, host: str | None, port: int | None, log_level: str | None) -> None:
    """Start the API server; SIGINT/SIGTERM shut it down gracefully."""
    try:
        base = FactflowSettings()
    except ValidationError as exc:
        click.echo(f"factflow-server: invalid settings:\n{exc}", err=True)
        sys.exit(1)
    try:
        settings = effective_settings(base, embedded=embedded, host=host, port=port, log_level=log_level)
    except MissingBackendsError as exc:
        configure_logging(base.log_level, base.log_format)
        click.echo(f"factflow-server: {exc}", err=True)
        sys.exit(1)
    except (ValidationError, OSError) as exc:
        click.echo(f"factflow-server: invalid settings: {exc}", err=True)
        sys.exit(1)
    configure_logging(settings.log_level, settings.log_format)
    # Imported here so `--help` and usage errors answer without loading the whole server.
    from ._serve import run_server

    sys.exit(run_server(settings, embedded=embedded))


if __name__ == "__main__":
    main()
