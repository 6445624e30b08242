"""`factflow config …` (cli.md §4.1)."""

from __future__ import annotations

from pathlib import Path

import click

from .._exit_codes import ExitCode
from .._state import CliState, output_option, pass_state

__all__ = ("config",)


@click.group()
def config() -> None:
    """Pipeline configs: validate YAML files."""


@config.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--remote", is_flag=True, help="Validate on the server (POST /configs/validate) instead of locally.")
@output_option
@pass_state
def validate(state: CliState, path: Path, remote: bool) -> None:
    """Validate a pipeline YAML file, or every *.yaml/*.yml below a directory.

    Locally (the default) with the engine's validator and the adapters installed alongside the
    CLI; no server needed. Exit 0 without errors (warnings allowed), 1 with errors, 2 when PATH
    is missing or holds no YAML files.
    """
    # Imported here: the local path loads the engine, which `factflow --help` must not pay for.
    from .._validation import collect_yaml_files, print_results, validate_local, validate_remote

    files = collect_yaml_files(path)
    results = validate_remote(state, files) if remote else validate_local(files)
    print_results(results, state.mode)
    if any(result.error_count for result in results):
        raise click.exceptions.Exit(int(ExitCode.FAILURE))
