"""Fixtures for command tests: a real embedded server per module and the CLI invoked against it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from factflow_cli.main import cli
from factflow_server.testing import RunningServer, factflow_server, run_config, store_config, wait_execution

__all__ = ("factflow_server",)

FACTFLOW = str(Path(sys.executable).with_name("factflow"))
MISSING_ID = "01a20000-0000-7000-8000-000000000000"


def split_yaml(prefix: str, *, items: int = 3, sink_delay_ms: int = 0) -> str:
    """`<prefix>_intake` splits `items` and marks them, `<prefix>_sink` passes them through."""
    sink = (
        f"      - {{type: delay, config: {{ms: {sink_delay_ms}}}}}\n      - {{type: passthrough}}\n"
        if sink_delay_ms
        else "      - {type: passthrough}\n"
    )
    payload_items = ", ".join(f"{{id: {n}}}" for n in range(1, items + 1))
    return (
        'version: "1.0"\n'
        f"name: {prefix}-split\n"
        "orchestrator: {cancel_grace_seconds: 0}\n"
        "routes:\n"
        f"  {prefix}_intake:\n"
        f"    name: {prefix} intake\n"
        f"    inbound: {{queue: {prefix}.in}}\n"
        "    adapters:\n"
        "      - {type: split, config: {field: items, keep_fields: [batch]}}\n"
        "      - {type: set_fields, config: {values: {seen: true}}}\n"
        "    outbound:\n"
        f"      - {{queue: {prefix}.out}}\n"
        f"  {prefix}_sink:\n"
        f"    name: {prefix} sink\n"
        f"    inbound: {{queue: {prefix}.out}}\n"
        "    adapters:\n"
        f"{sink}"
        "init_message:\n"
        f"  route: {prefix}_intake\n"
        f"  payload: {{batch: 7, items: [{payload_items}]}}\n"
    )


def slow_yaml(route: str = "sleeper") -> str:
    """One route sleeping a minute; cancellation is immediate."""
    return (
        'version: "1.0"\n'
        f"name: slow-{route}\n"
        "orchestrator: {cancel_grace_seconds: 0}\n"
        "routes:\n"
        f"  {route}:\n"
        f"    inbound: {{queue: {route}.in}}\n"
        "    adapters:\n"
        "      - {type: delay, config: {ms: 60000}}\n"
        "init_message:\n"
        f"  route: {route}\n"
        "  payload: {n: 1}\n"
    )


def failing_yaml(route: str = "boom") -> str:
    """Every message fails without retry, so the execution fails."""
    return (
        'version: "1.0"\n'
        f"name: failing-{route}\n"
        "routes:\n"
        f"  {route}:\n"
        f"    inbound: {{queue: {route}.in}}\n"
        "    adapters:\n"
        "      - {type: fail, config: {retryable: false, message: induced for the CLI}}\n"
        "init_message:\n"
        f"  route: {route}\n"
        "  payload: {n: 1}\n"
    )


def table_rows(text: str, headers: list[str]) -> list[dict[str, str]]:
    """Rows of the borderless table whose header line holds `headers`, as `{header: cell}`.

    Columns are the character ranges used by the header or any row; the table puts at least
    two spaces between columns, so a single space stays inside a cell (`2.0 KiB`, `IN FLIGHT`).
    """
    lines = text.splitlines()
    head_index = next(i for i, line in enumerate(lines) if line.split() == " ".join(headers).split())
    block = [lines[head_index]]
    for line in lines[head_index + 1 :]:
        if not line.strip() or line.startswith("showing "):
            break
        block.append(line)
    width = max(len(line) for line in block)
    used = [any(i < len(line) and line[i] != " " for line in block) for i in range(width)]
    spans: list[list[int]] = []
    for i, busy in enumerate(used):
        if not busy:
            continue
        if spans and i - spans[-1][1] <= 1:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1])
    found = [block[0][start:end].strip() for start, end in spans]
    assert found == headers, f"columns {found} are not {headers}"
    return [
        {header: line[start:end].strip() for header, (start, end) in zip(headers, spans, strict=True)}
        for line in block[1:]
    ]


@dataclass
class Cli:
    """Runs `factflow --server <url> ...` in process and returns click's result.

    Test modules reach the pipeline builders through it (`ff.split_yaml(...)`): a conftest is
    not importable from test modules at run time.
    """

    server: RunningServer

    MISSING_ID = MISSING_ID
    split_yaml = staticmethod(split_yaml)
    slow_yaml = staticmethod(slow_yaml)
    failing_yaml = staticmethod(failing_yaml)
    table_rows = staticmethod(table_rows)

    def __call__(self, *args: str, output: str | None = None, input: str | bytes | None = None) -> Result:
        prefix = ["--server", self.server.base_url]
        if output is not None:
            prefix += ["--output", output]
        result = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "250"}).invoke(cli, [*prefix, *args], input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    def json(self, *args: str, input: str | bytes | None = None) -> Any:
        """Run in JSON mode, assert exit 0 and a clean stderr, return the document."""
        result = self(*args, output="json", input=input)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        assert result.stdout.endswith("}\n") or result.stdout.endswith("]\n")
        return json.loads(result.stdout)

    def table(self, *args: str) -> Result:
        """Run in table mode and assert exit 0."""
        result = self(*args, output="table")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def client(self) -> httpx.Client:
        return self.server.client()

    def store(self, config_yaml: str, **fields: Any) -> str:
        with self.client() as client:
            return store_config(client, config_yaml, **fields)

    def start(self, config_id: str, **params: Any) -> dict[str, Any]:
        with self.client() as client:
            return run_config(client, config_id, **params)

    def finish(self, config_yaml: str, **params: Any) -> dict[str, Any]:
        """Store, run and wait for a config; returns the ExecutionResponse of the run."""
        config_id = self.store(config_yaml)
        execution = self.start(config_id, **params)
        with self.client() as client:
            wait_execution(client, execution["id"])
        return {**execution, "config_id": config_id}

    def wait_for(self, condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "condition") -> None:
        """Poll `condition` until it holds, failing after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not happen within {timeout} s")
            time.sleep(0.02)

    def subscribers(self, execution_id: str) -> int:
        """Open event-stream subscriptions of an execution on the server."""
        container = self.server.app.state.runtime.container
        return int(container.executions.hub.subscriber_count(execution_id))

    def wait_subscribed(self, execution_id: str) -> None:
        self.wait_for(lambda: self.subscribers(execution_id) > 0, what=f"a stream subscription to {execution_id}")


@pytest.fixture(scope="module")
def ff(factflow_server: RunningServer) -> Cli:
    return Cli(factflow_server)


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def console(*args: str, server: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """The installed `factflow` console script as a child process (bytes in, bytes out)."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "250", **kwargs.pop("env", {})}
    return subprocess.run(
        [FACTFLOW, "--server", server, *args], capture_output=True, env=env, timeout=120, check=False, **kwargs
    )
