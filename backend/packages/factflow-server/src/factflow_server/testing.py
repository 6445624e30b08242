"""Run a real factflow server in tests: in a thread (fast) or as a subprocess (signals, exit codes).

Use the fixtures through `pytest_plugins = ["factflow_server.testing"]` in a `conftest.py`, or
call the helpers directly:

- `embedded_settings(data_dir, **overrides)` — embedded settings rooted in a temporary dir.
- `serve_in_thread(settings)` — context manager yielding a `RunningServer` on a free port.
- `ServerProcess.start(args, env=..., cwd=...)` — `python -m factflow_server ...` as a child,
  port taken from its `listening on` announcement.
- `serve_with_workers(data_dir, workers=N)` — a production-mode server (PostgreSQL schema and
  Redis database of its own, filesystem storage) without a local worker, and N
  `factflow-server worker` child processes doing the work.
- fixtures `factflow_server` (module-scoped embedded server; in worker mode, see below, the
  `serve_with_workers` cluster) and `factflow_server_factory` (start embedded servers with
  overrides; all stopped at teardown).

Worker mode: with `FACTFLOW_TEST_WORKERS=N` (N >= 1) in the environment, `factflow_server` is a
server with `local_worker=False` whose routes run on N worker processes, so the suites that use it
prove that a pipeline behaves the same across processes. Tests that cannot apply there are
marked with `skip_in_worker_mode(reason)`, and known product gaps of worker mode with
`xfail_in_worker_mode(reason)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from factflow_foundation import FactflowSettings
from factflow_infra.database import create_database_engine, run_migrations
from factflow_infra.testing import flushed_redis_url, hold_redis_db, postgres_test_schema
from factflow_protocols import JSONObject

from ._app import create_app
from ._serve import FactflowServer, bind_socket, make_server

__all__ = (
    "ERROR_ENVELOPE_KEYS",
    "RunningServer",
    "assert_error",
    "read_sse",
    "run_config",
    "slow_fan_out_pipeline",
    "store_config",
    "wait_execution",
    "ServerProcess",
    "TEST_WORKERS_ENV",
    "embedded_settings",
    "factflow_server",
    "factflow_server_factory",
    "postgres_lock_key",
    "serve_in_mode",
    "serve_in_thread",
    "serve_with_workers",
    "skip_in_worker_mode",
    "worker_mode",
    "xfail_in_worker_mode",
)

STARTUP_TIMEOUT_SECONDS = 90.0
TEST_WORKERS_ENV = "FACTFLOW_TEST_WORKERS"
"""Worker mode: this many `factflow-server worker` processes run the shared fixture's routes."""
ERROR_ENVELOPE_KEYS = frozenset(
    {"detail", "error_code", "correlation_id", "timestamp", "errors", "validation_report", "context"}
)


def assert_error(response: httpx.Response, status: int, error_code: str) -> JSONObject:
    """Assert `response` is an `ErrorResponse` with `status` and `error_code`; return the body."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    body: JSONObject = response.json()
    assert set(body) == ERROR_ENVELOPE_KEYS, body
    assert body["error_code"] == error_code, body
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    assert str(body["timestamp"]).endswith("Z")
    return body


_ANNOUNCE = re.compile(r"listening on (http://\S+)")


class _HermeticSettings(FactflowSettings):
    """Settings from explicit values only: no environment, no `.env`."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def postgres_lock_key(database_url: str) -> int:
    """A start-up lock key of its own for a test server on `database_url` (e.g. one schema)."""
    return int(hashlib.sha256(database_url.encode("utf-8")).hexdigest()[:14], 16)


def embedded_settings(data_dir: Path, **overrides: Any) -> FactflowSettings:
    """Embedded settings under `data_dir`, on `127.0.0.1` port 0, without shipped pipelines.

    The environment is ignored (no `.env`, no `FACTFLOW_*`), so tests are hermetic; pass
    `pipelines_dir=` to load shipped pipelines.
    """
    pipelines_dir = overrides.pop("pipelines_dir", None)
    if pipelines_dir is None:
        pipelines_dir = data_dir / "pipelines"
        pipelines_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "host": "127.0.0.1",
        "port": 0,
        "pipelines_dir": pipelines_dir,
        "shutdown_grace_seconds": 5,
        **overrides,
    }
    settings = _HermeticSettings(**values).with_embedded_defaults()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def slow_fan_out_pipeline(name: str, *, prefix: str, items: int, delay_ms: int, work: str = "") -> str:
    """A pipeline YAML to interrupt mid-run: `split` → a slow `work` route (`delay`, `set_fields`) → `sink`.

    Each item takes `delay_ms` in `work`, whose inbound gets `work` as extra options (e.g.
    `, concurrency: 4, prefetch: 4`); queues are named `<prefix>.in`, `.work` and `.done`.
    Every item is handled once in `work` and once in `sink`: `1 + 2 * items` deliveries.
    """
    return f"""
version: "1.0"
name: {name}
routes:
  fanout:
    inbound: {{queue: {prefix}.in}}
    adapters:
      - type: split
        config: {{field: items}}
    outbound: [{{queue: {prefix}.work}}]
  work:
    inbound: {{queue: {prefix}.work{work}}}
    adapters:
      - type: delay
        config: {{ms: {delay_ms}}}
      - type: set_fields
        config: {{values: {{worked: true}}}}
    outbound: [{{queue: {prefix}.done}}]
  sink:
    inbound: {{queue: {prefix}.done}}
    adapters:
      - type: passthrough
init_message:
  route: fanout
  payload: {{items: {list(range(items))}}}
"""


def store_config(client: httpx.Client, config_yaml: str, **fields: Any) -> str:
    """C1: store `config_yaml` and return the new config id (asserts 201)."""
    response = client.post("/api/v1/configs", json={"config_yaml": config_yaml, **fields})
    assert response.status_code == 201, response.text
    config_id: str = response.json()["id"]
    return config_id


def run_config(client: httpx.Client, config_id: str, **params: Any) -> JSONObject:
    """C7: start an execution (query `params`, e.g. `tag=`) and return its ExecutionResponse (asserts 201)."""
    body = params.pop("json", None)
    response = client.post(f"/api/v1/configs/{config_id}/run", params=params, json=body)
    assert response.status_code == 201, response.text
    execution: JSONObject = response.json()
    return execution


def wait_execution(client: httpx.Client, ref: str, *, timeout: float = 60.0) -> JSONObject:
    """E6: block until the execution stops (asserts it did within `timeout`); returns the WaitResult."""
    response = client.post(f"/api/v1/executions/{ref}/wait", json={"timeout": timeout}, timeout=timeout + 30)
    assert response.status_code == 200, response.text
    result: JSONObject = response.json()
    assert result["completed"], f"execution {ref} still {result['status']} after {timeout} s"
    return result


def read_sse(response: httpx.Response) -> list[JSONObject]:
    """Parse a whole `text/event-stream` body into frames: `{id, event, data}` or `{retry}` / `{comment}`."""
    frames: list[JSONObject] = []
    current: JSONObject = {}
    for line in response.iter_lines():
        if line == "":
            if current:
                frames.append(current)
            current = {}
            continue
        if line.startswith(":"):
            frames.append({"comment": line[1:].strip()})
            continue
        field_name, _, value = line.partition(": ")
        if field_name == "data":
            current["data"] = json.loads(value)
        elif field_name == "retry":
            current["retry"] = int(value)
        else:
            current[field_name] = value
    if current:
        frames.append(current)
    return frames


@dataclass(slots=True)
class RunningServer:
    """A server running in a background thread."""

    base_url: str
    settings: FactflowSettings
    app: FastAPI
    server: FactflowServer
    thread: threading.Thread
    workers: tuple[ServerProcess, ...] = ()
    """The worker processes running this server's routes (worker mode), else empty."""

    def client(self, *, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client bound to the server (bearer `token` when given)."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.base_url, headers=headers, **kwargs)

    def stop(self, *, timeout: float = 60.0) -> None:
        """Graceful shutdown (the signal path) and wait for the thread."""
        self.server.request_exit()
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError(f"server at {self.base_url} did not stop within {timeout} s")


@contextlib.contextmanager
def serve_in_thread(
    settings: FactflowSettings,
    *,
    embedded: bool = True,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    configure_app: Callable[[FastAPI], None] | None = None,
    lock_key: int | None = None,
) -> Iterator[RunningServer]:
    """Start a real uvicorn server for `settings` on a free port; stop it on exit.

    `configure_app` may add test-only routes before the server starts; `lock_key` gives a
    PostgreSQL-backed server its own start-up lock (see `postgres_lock_key`).
    """
    sock = bind_socket(settings.host, settings.port)
    port = int(sock.getsockname()[1])
    settings = settings.model_copy(update={"port": port})
    app = create_app(settings, embedded=embedded, lock_key=lock_key)
    if configure_app is not None:
        configure_app(app)
    ready = threading.Event()
    server = make_server(app, settings, on_started=lambda _server: ready.set())
    failure: list[BaseException] = []

    def target() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the test thread below
            failure.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=target, name=f"factflow-server:{port}", daemon=True)
    thread.start()
    try:
        if not ready.wait(startup_timeout):
            raise RuntimeError(f"server did not start within {startup_timeout} s")
        if failure or not server.started or server.startup_failed:
            thread.join(10)
            raise RuntimeError("server start-up failed") from (failure[0] if failure else None)
        running = RunningServer(
            base_url=f"http://{settings.host}:{port}", settings=settings, app=app, server=server, thread=thread
        )
        yield running
    finally:
        if thread.is_alive():
            server.request_exit()
            thread.join(60)
        sock.close()


@dataclass(slots=True)
class ServerProcess:
    """`python -m factflow_server ...` as a child process; stderr is collected line by line."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    base_url: str | None = None

    @classmethod
    def start(
        cls,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ServerProcess:
        """Launch the server with `args` (e.g. `["serve", "--embedded", "--port", "0"]`)."""
        child_env = {key: value for key, value in os.environ.items() if not key.startswith("FACTFLOW_")}
        child_env.update(env or {})
        process = subprocess.Popen(
            [sys.executable, "-m", "factflow_server", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env,
            cwd=cwd,
        )
        started = cls(process=process)
        threading.Thread(target=started._pump, name="factflow-server-stderr", daemon=True).start()
        return started

    def _pump(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        try:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
        finally:
            stream.close()
            self._queue.put(None)

    def wait_for_line(self, predicate: Callable[[str], bool], *, timeout: float = STARTUP_TIMEOUT_SECONDS) -> str:
        """Block until a stderr line satisfies `predicate`; raises when the process ends first."""
        deadline = _Deadline(timeout)
        while True:
            try:
                line = self._queue.get(timeout=deadline.remaining())
            except queue.Empty:
                raise TimeoutError(f"no matching stderr line within {timeout} s:\n" + self.output()) from None
            if line is None:
                self._queue.put(None)
                raise RuntimeError("server process ended:\n" + self.output())
            self.lines.append(line)
            if predicate(line):
                return line

    def wait_until_listening(self, *, timeout: float = STARTUP_TIMEOUT_SECONDS) -> str:
        """Wait for the announcement and return the base URL."""
        line = self.wait_for_line(lambda text: _ANNOUNCE.search(text) is not None, timeout=timeout)
        match = _ANNOUNCE.search(line)
        assert match is not None
        self.base_url = match.group(1)
        return self.base_url

    def send_signal(self, sig: int = signal.SIGINT) -> None:
        self.process.send_signal(sig)

    def wait(self, *, timeout: float = 60.0) -> int:
        """Wait for exit and return the exit code (stderr is read to its end)."""
        code = self.process.wait(timeout)
        self.wait_for_end(timeout=timeout)
        return code

    def wait_for_end(self, *, timeout: float = 60.0) -> None:
        """Collect stderr up to its end (the pipe closes when the process exits)."""
        deadline = _Deadline(timeout)
        while True:
            try:
                line = self._queue.get(timeout=deadline.remaining())
            except queue.Empty:
                raise TimeoutError("stderr did not close") from None
            if line is None:
                self._queue.put(None)
                return
            self.lines.append(line)

    def drain(self) -> None:
        """Collect the stderr lines read so far."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self._queue.put(None)
                return
            self.lines.append(line)

    def output(self) -> str:
        self.drain()
        return "\n".join(self.lines)

    def kill(self) -> None:
        """Kill the process if it still runs, and reap it."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.wait_for_end(timeout=10)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())


def worker_mode() -> int:
    """How many worker processes `FACTFLOW_TEST_WORKERS` asks for; 0 (unset) is the embedded mode."""
    raw = os.environ.get(TEST_WORKERS_ENV, "").strip()
    if not raw:
        return 0
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"{TEST_WORKERS_ENV}={raw!r} is not a number of worker processes") from None
    if count < 0:
        raise ValueError(f"{TEST_WORKERS_ENV}={raw!r} must be 0 or more")
    return count


def skip_in_worker_mode(reason: str) -> pytest.MarkDecorator:
    """Skip a test (or, as `pytestmark`, a module) in worker mode, saying why it cannot apply there."""
    return pytest.mark.skipif(worker_mode() > 0, reason=f"worker mode: {reason}")


def xfail_in_worker_mode(reason: str) -> pytest.MarkDecorator:
    """Expect a test to fail in worker mode because of a known product gap named by `reason` (strict)."""
    return pytest.mark.xfail(worker_mode() > 0, reason=f"worker mode: {reason}", strict=True)


def _settings_env(settings: FactflowSettings) -> dict[str, str]:
    """The `FACTFLOW_*` variables that give a child process the explicitly set fields of `settings`."""
    env: dict[str, str] = {}
    for name in sorted(settings.model_fields_set - {"host", "port", "local_worker", "worker_id"}):
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, tuple | list):
            text = ",".join(str(item) for item in value)
        elif hasattr(value, "get_secret_value"):
            text = value.get_secret_value()
        else:
            text = str(value)
        env[f"FACTFLOW_{name.upper()}"] = text
    return env


async def _migrate(database_url: str) -> None:
    engine = create_database_engine(database_url)
    try:
        await run_migrations(engine)
    finally:
        await engine.dispose()


@contextlib.contextmanager
def _postgres_schema() -> Iterator[str]:
    """`postgres_test_schema` for synchronous code: a migrated schema of its own, dropped on exit."""
    with asyncio.Runner() as runner:
        schema = postgres_test_schema()
        url = runner.run(schema.__aenter__())
        try:
            runner.run(_migrate(url))
            yield url
        finally:
            runner.run(schema.__aexit__(None, None, None))


@contextlib.contextmanager
def serve_with_workers(
    data_dir: Path,
    *,
    workers: int = 2,
    pools: Sequence[str] = ("default",),
    **overrides: Any,
) -> Iterator[RunningServer]:
    """A production-mode server in a thread that runs no route, and `workers` worker processes.

    The server uses a PostgreSQL schema (unless `database_url=` names one) and a Redis test
    database of its own (skipped without the services, unless `CI=true`) and filesystem storage
    under `data_dir`; `overrides` are further settings, given to the workers too. Each worker
    (`w1`, `w2`, ...) serves `pools`; the server is listening and every worker registered when
    the block starts. On exit the workers drain (SIGTERM), the server stops, the schema is
    dropped and the Redis database flushed.
    """
    if workers < 1:
        raise ValueError("serve_with_workers needs at least one worker")
    with contextlib.ExitStack() as stack:
        database_url = overrides.pop("database_url", None)
        if database_url is None:
            database_url = stack.enter_context(_postgres_schema())
        else:
            asyncio.run(_migrate(database_url))
        queue_url = stack.enter_context(flushed_redis_url(stack.enter_context(hold_redis_db())))
        settings = embedded_settings(
            data_dir,
            database_url=database_url,
            queue_url=queue_url,
            storage_uri=f"file://{data_dir / 'storage'}",
            local_worker=False,
            **overrides,
        )
        # The workers start first (their start-up is mostly imports) and meet a migrated schema.
        env = {**_settings_env(settings), "FACTFLOW_LOG_LEVEL": "WARNING"}
        processes: list[ServerProcess] = []
        stack.callback(_stop_workers, processes)
        pool_args = [arg for pool in pools for arg in ("--pool", pool)]
        worker_ids = [f"w{number}" for number in range(1, workers + 1)]
        for worker_id in worker_ids:
            processes.append(ServerProcess.start(["worker", "--id", worker_id, *pool_args], env=env, cwd=data_dir))
        running = stack.enter_context(
            serve_in_thread(settings, embedded=False, lock_key=postgres_lock_key(database_url))
        )
        stack.callback(_stop_workers, processes)  # again, so they drain before the server stops
        for worker_id, process in zip(worker_ids, processes, strict=True):
            process.wait_for_line(functools.partial(_announces, f"worker {worker_id} serving pools"))
        running.workers = tuple(processes)
        yield running


@contextlib.contextmanager
def serve_in_mode(data_dir: Path, **overrides: Any) -> Iterator[RunningServer]:
    """A server for the test mode: embedded, or in worker mode a `serve_with_workers` cluster.

    `overrides` are settings (`api_token=`, `max_concurrent_executions=`, ...) in either mode.
    """
    workers = worker_mode()
    if workers:
        with serve_with_workers(data_dir, workers=workers, **overrides) as running:
            yield running
        return
    with serve_in_thread(embedded_settings(data_dir, **overrides)) as running:
        yield running


def _announces(announcement: str, line: str) -> bool:
    return announcement in line


def _stop_workers(processes: Sequence[ServerProcess]) -> None:
    """Drain every worker (SIGTERM) and reap it; a worker that does not exit in time is killed."""
    for process in processes:
        if process.process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except (subprocess.TimeoutExpired, TimeoutError):
            pass
        finally:
            process.kill()


@pytest.fixture(scope="module")
def factflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server shared by a test module (fresh data dir, no shipped pipelines).

    Embedded; in worker mode (`FACTFLOW_TEST_WORKERS=N`) a `serve_with_workers` cluster of N workers.
    """
    with serve_in_mode(tmp_path_factory.mktemp("factflow-server")) as running:
        yield running


@pytest.fixture
def factflow_server_factory(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start embedded servers with setting overrides; every one is stopped at teardown."""
    with contextlib.ExitStack() as stack:
        counter = iter(range(1_000_000))

        def start(**overrides: Any) -> RunningServer:
            data_dir = overrides.pop("data_dir", None) or tmp_path / f"server-{next(counter)}"
            embedded = bool(overrides.pop("embedded", True))
            configure_app = overrides.pop("configure_app", None)
            settings = embedded_settings(Path(data_dir), **overrides)
            return stack.enter_context(serve_in_thread(settings, embedded=embedded, configure_app=configure_app))

        yield start
