"""`storage watch`: follow `GET /storage/events` for one execution until it stops (docs/reference/cli.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import TYPE_CHECKING

from ._client import ApiClient, run_async
from ._errors import CliError
from ._events import SseEvent, follow_events, stream_timeout
from ._exit_codes import ExitCode
from ._output import format_size, format_time
from ._state import DEFAULT_TIMEOUT_SECONDS, CliState

if TYPE_CHECKING:
    from factflow_protocols import JSONObject

__all__ = ("watch_storage",)

_HEADER = ("TIME", "ROUTE", "STAGE", "SIZE", "KEY")


def _line(time: str, route: str, stage: str, size: str, key: str) -> str:
    return f"{time:<20}  {route:<16}  {stage:<20}  {size:>10}  {key}"


class _Printer:
    """Writes one line per event: NDJSON in JSON mode, aligned columns in table mode."""

    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.finished: str | None = None
        self._header_done = False

    def _emit(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def write(self, data: JSONObject) -> None:
        if self.json_mode:
            self._emit(json.dumps(data, ensure_ascii=False))
            return
        if not self._header_done:
            self._emit(_line(*_HEADER))
            self._header_done = True
        self._emit(
            _line(
                format_time(data.get("created_at") or data.get("timestamp")),
                str(data.get("route_id") or ""),
                str(data.get("stage") or ""),
                format_size(data.get("size")),
                str(data.get("key") or ""),
            )
        )

    def finish(self, data: JSONObject, execution_ref: str) -> None:
        """The closing line, once: the `execution.finished` data, or `Execution <id> finished: <status>`."""
        if self.finished is not None:
            return
        self.finished = str(data.get("status"))
        if self.json_mode:
            self._emit(json.dumps(data, ensure_ascii=False))
        else:
            self._emit(f"Execution {data.get('execution_id') or execution_ref} finished: {self.finished}")


def watch_storage(state: CliState, execution_ref: str, *, route: str | None, stage: str | None) -> None:
    """Print the execution's storage writes until it reaches a final status.

    Raises:
        CliError: exit 5 when `--timeout` ends the watch first; the API's errors otherwise.
    """
    printer = _Printer(json_mode=state.mode == "json")
    limit = state.timeout

    def on_event(event: SseEvent) -> bool:
        if event.name == "storage.object.created":
            printer.write(event.data)
        elif event.name == "execution.finished":
            printer.finish(event.data, execution_ref)
        elif event.name == "stream.end" and event.data.get("reason") == "terminal":
            if printer.finished is None and not printer.json_mode:
                printer.finish({"status": event.data.get("status")}, execution_ref)
            return True
        return False

    async def run() -> None:
        loop = asyncio.get_running_loop()
        deadline = None if limit is None else loop.time() + limit

        def remaining() -> float | None:
            return None if deadline is None else deadline - loop.time()

        guard = asyncio.timeout_at(deadline) if deadline is not None else contextlib.nullcontext()
        async with ApiClient(state.api_url, token=state.token, timeout=DEFAULT_TIMEOUT_SECONDS) as api:
            try:
                async with guard:
                    await follow_events(
                        api,
                        "/storage/events",
                        params=lambda left: {
                            "execution_id": execution_ref,
                            "route_id": route,
                            "stage": stage,
                            "timeout": stream_timeout(left),
                        },
                        remaining=remaining,
                        on_event=on_event,
                    )
            except TimeoutError:
                raise CliError(
                    f"stopped watching {execution_ref!r}: the --timeout of {limit:g}s was reached",
                    exit_code=ExitCode.TIMED_OUT,
                ) from None

    run_async(run())
