"""`factflow-server serve` / `python -m factflow_server serve` (docs/reference/cli.md)."""

from __future__ import annotations

import re
import sys

import click
from pydantic import ValidationError

from factflow_foundation import FactflowSettings, configure_logging
from factflow_foundation.settings_reference import describe_settings

from ._settings import MissingBackendsError, effective_settings
from ._version import SERVER_VERSION

__all__ = ("main",)

_LEVELS = ("debug", "info", "warning", "error")
_POOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""Pool names use the queue-name charset."""


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
@click.option(
    "--no-local-worker",
    "no_local_worker",
    is_flag=True,
    help="Run no route processors here: worker processes run every route (FACTFLOW_LOCAL_WORKER=false).",
)
def serve(embedded: bool, host: str | None, port: int | None, log_level: str | None, no_local_worker: bool) -> None:
    """Start the API server; SIGINT/SIGTERM shut it down gracefully.

    With PostgreSQL, a server that finds the lock held by another starts as a standby (reads,
    writes relayed to the leader) and becomes the leader when the lock is released.
    """
    if embedded and no_local_worker:
        click.echo(
            "factflow-server: `--embedded` runs every route in this process; it cannot be combined with "
            "`--no-local-worker`.",
            err=True,
        )
        sys.exit(2)
    try:
        base = FactflowSettings()
    except ValidationError as exc:
        click.echo(f"factflow-server: invalid settings:\n{exc}", err=True)
        sys.exit(1)
    if no_local_worker:
        base = base.model_copy(update={"local_worker": False})
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


@main.command(epilog=_settings_epilog())
@click.option(
    "--pool",
    "pools",
    multiple=True,
    metavar="NAME",
    help="A pool whose routes this worker runs; repeatable (FACTFLOW_WORKER_POOLS, else `default`).",
)
@click.option(
    "--concurrency-scale",
    default=1.0,
    type=click.FloatRange(min=0.01, max=100.0),
    show_default=True,
    help="Multiply each route's `inbound.concurrency` on this worker.",
)
@click.option("--id", "worker_id", default=None, help="Stable worker id (FACTFLOW_WORKER_ID, else host:pid:boot).")
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(1, 65535),
    help="Serve Prometheus metrics on this port (`/metrics`).",
)
@click.option(
    "--log-level",
    default=None,
    type=click.Choice(_LEVELS, case_sensitive=False),
    help="Log level (FACTFLOW_LOG_LEVEL, else info).",
)
def worker(
    pools: tuple[str, ...],
    concurrency_scale: float,
    worker_id: str | None,
    metrics_port: int | None,
    log_level: str | None,
) -> None:
    """Run the routes of the given pools for every running execution; SIGTERM drains and stops it.

    Needs the production settings (PostgreSQL, a Redis queue, storage) of the server it works for.
    """
    try:
        base = FactflowSettings()
    except ValidationError as exc:
        click.echo(f"factflow-server: invalid settings:\n{exc}", err=True)
        sys.exit(2)
    queue_url = base.queue_url or ""
    if queue_url.split("://", 1)[0].lower() == "memory" or not base.queue_url:
        click.echo(
            "factflow-server: a worker needs a shared Redis queue (FACTFLOW_QUEUE_URL=redis://...); "
            f"{'a `memory://` queue lives inside one process' if queue_url else 'it is unset'}.",
            err=True,
        )
        sys.exit(2)
    try:
        settings = effective_settings(base, embedded=False, log_level=log_level)
    except MissingBackendsError as exc:
        click.echo(f"factflow-server: {exc}", err=True)
        sys.exit(2)
    chosen = [pool.strip() for pool in pools] or list(settings.worker_pools)
    bad = [pool for pool in chosen if not _POOL_NAME.fullmatch(pool)]
    if bad or not chosen:
        click.echo(f"factflow-server: invalid pool name(s): {', '.join(map(repr, bad)) or '(none)'}", err=True)
        sys.exit(2)
    from factflow_infra.workers import default_worker_id

    try:
        resolved_id = default_worker_id(worker_id or settings.worker_id)
    except ValueError as exc:
        click.echo(f"factflow-server: {exc}", err=True)
        sys.exit(2)
    configure_logging(settings.log_level, settings.log_format)
    from ._worker_main import run_worker

    sys.exit(
        run_worker(
            settings,
            pools=list(dict.fromkeys(chosen)),
            worker_id=resolved_id,
            concurrency_scale=concurrency_scale,
            metrics_port=metrics_port,
        )
    )


if __name__ == "__main__":
    main()
