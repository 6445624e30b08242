"""`storage download`: every object of an execution into a directory, N at a time (docs/reference/cli.md)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._calls import fetch_all_pages, is_uuid, object_path, segment
from ._client import ApiClient, run_async
from ._errors import CliError
from ._exit_codes import ExitCode
from ._output import Column, format_count, format_size, make_panel, make_table, print_json, print_renderable
from ._state import DEFAULT_TIMEOUT_SECONDS, CliState

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from factflow_protocols import JSONObject

__all__ = ("DownloadOptions", "DownloadReport", "download", "download_command")

_EXECUTION_KEY = re.compile(r"^executions/([0-9a-fA-F-]{32,36})/")
META_SUFFIX = ".meta.json"


@dataclass(frozen=True, slots=True)
class DownloadOptions:
    """What `storage download` was asked to do."""

    execution_ref: str
    output_dir: Path
    route: str | None = None
    stage: str | None = None
    include_metadata: bool = False
    overwrite: bool = False
    concurrency: int = 8


@dataclass(slots=True)
class DownloadReport:
    """What a download did."""

    execution_id: str
    output_dir: str
    objects: int = 0
    downloaded: int = 0
    skipped: int = 0
    bytes: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def to_dict(self) -> JSONObject:
        """`{execution_id, output_dir, objects, downloaded, skipped, failed, bytes, failures}`."""
        return {
            "execution_id": self.execution_id,
            "output_dir": self.output_dir,
            "objects": self.objects,
            "downloaded": self.downloaded,
            "skipped": self.skipped,
            "failed": self.failed,
            "bytes": self.bytes,
            "failures": sorted(self.failures, key=lambda item: item["key"]),
        }


def _target(root: Path, key: str) -> Path:
    """`root/<key>`; a key that would leave `root` is refused."""
    parts = key.split("/")
    if not key or any(part in ("", ".", "..") for part in parts) or "\\" in key:
        raise ValueError(f"the key {key!r} is not a safe relative path")
    return root.joinpath(*parts)


def _write(target: Path, data: bytes) -> None:
    # Write next to the target, then rename: an interrupted download never leaves a partial file.
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, target)


async def _execution_id(api: ApiClient, ref: str, keys: list[str]) -> str:
    for key in keys[:1]:
        match = _EXECUTION_KEY.match(key)
        if match:
            return match.group(1)
    if is_uuid(ref):
        return ref
    try:
        record = await api.get_json(f"/executions/{segment(ref)}")
    except CliError:
        return ref
    return str(record.get("id") or ref) if isinstance(record, dict) else ref


async def download(
    api: ApiClient, options: DownloadOptions, *, progress: Progress | None = None, task: TaskID | None = None
) -> DownloadReport:
    """List every page of the execution's objects, then fetch them `options.concurrency` at a time."""
    params = {
        "execution_id": options.execution_ref,
        "route_id": options.route,
        "stage": options.stage,
        "include_metadata": False,
    }
    listing = await fetch_all_pages(api, "/storage/objects", items="objects", params=params)
    keys = [str(item.get("key")) for item in listing["objects"]]
    root = options.output_dir
    report = DownloadReport(
        execution_id=await _execution_id(api, options.execution_ref, keys),
        output_dir=str(root),
        objects=len(keys),
    )
    if progress is not None and task is not None:
        progress.update(task, total=len(keys))
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    limit = asyncio.Semaphore(options.concurrency)

    async def fetch(key: str) -> None:
        try:
            target = _target(root, key)
            if not options.overwrite and await asyncio.to_thread(target.exists):
                report.skipped += 1
                return
            async with limit:
                response = await api.request("GET", object_path(key))
                await asyncio.to_thread(_write, target, response.content)
                if options.include_metadata:
                    metadata = await api.get_json(object_path(key) + "/metadata")
                    text = json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"
                    await asyncio.to_thread(_write, target.with_name(target.name + META_SUFFIX), text.encode())
            report.downloaded += 1
            report.bytes += len(response.content)
        except CliError as error:
            report.failures.append({"key": key, "error": error.detail})
        except (OSError, ValueError) as error:
            report.failures.append({"key": key, "error": str(error)})
        finally:
            if progress is not None and task is not None:
                progress.advance(task)

    async with asyncio.TaskGroup() as group:
        for key in keys:
            group.create_task(fetch(key), name=f"download:{key}")
    return report


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ._output import stderr_console

    return Progress(
        TextColumn("downloading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=True,
    )


def download_command(state: CliState, options: DownloadOptions) -> None:
    """Run `storage download`: progress bar on a terminal's stderr, report on stdout, exit 1 on failures."""
    per_object = state.timeout_or(DEFAULT_TIMEOUT_SECONDS)

    async def run() -> DownloadReport:
        async with ApiClient(state.api_url, token=state.token, timeout=per_object) as api:
            if not sys.stderr.isatty():
                return await download(api, options)
            with _progress() as progress:
                task = progress.add_task("download", total=None)
                return await download(api, options, progress=progress, task=task)

    report = run_async(run())
    if state.mode == "json":
        print_json(report.to_dict())
    else:
        panel = make_panel(
            [
                ("EXECUTION", report.execution_id),
                ("DIR", report.output_dir),
                ("OBJECTS", format_count(report.objects)),
                ("DOWNLOADED", format_count(report.downloaded)),
                ("SKIPPED", format_count(report.skipped)),
                ("FAILED", format_count(report.failed)),
                ("BYTES", f"{format_count(report.bytes)} ({format_size(report.bytes)})"),
            ]
        )
        renderables: list[Any] = [panel]
        failures = report.to_dict()["failures"]
        if failures:
            renderables.append(
                make_table(
                    (Column("KEY", key=True), Column("ERROR", text=True)),
                    [(item["key"], item["error"]) for item in failures],
                )
            )
        print_renderable(*renderables)
    if report.failed:
        raise click.exceptions.Exit(int(ExitCode.FAILURE))
