"""Backends a test can break on purpose: a Redis server of its own and a TCP link it can cut.

Both are synchronous, so they serve tests that drive a server process from plain threads:

- `RedisServer`: a `redis-server` child on a free port, with or without persistence, that can be
  stopped and started again (a restart without persistence loses every stream and group).
- `ThreadedTcpProxy`: a `TcpProxy` on an event loop of its own; `cut()` resets every open
  connection and refuses new ones until `restore()`, which is how a network partition or a
  stopped service looks to the client (PostgreSQL, Redis, S3 alike).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from ._database import service_unavailable
from ._queue import TcpProxy

__all__ = (
    "RedisServer",
    "ThreadedTcpProxy",
    "free_port",
    "persistent_redis",
    "restartable_redis",
    "threaded_tcp_proxy",
)

T = TypeVar("T")

_START_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A `redis-server` of the test's own on `127.0.0.1`, so it can be stopped and restarted.

    Args:
        directory: Where it keeps its files (the AOF when `persistent`).
        persistent: `appendonly yes` with `appendfsync always` (a restart keeps everything);
            otherwise no persistence at all (a restart loses every key).
    """

    def __init__(self, directory: Path, *, persistent: bool) -> None:
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers `PING` (skips, or fails in CI, without `redis-server`)."""
        binary = shutil.which("redis-server")
        if binary is None:
            service_unavailable("redis-server is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory), "--save", ""]
            + persistence,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not self.answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def answers(self) -> bool:
        """Whether the server answers `PING` now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM (a persistent server writes its AOF) and wait; idempotent."""
        if self.process is None:
            return
        self.process.terminate()
        self.process.wait(timeout=20)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A `redis-server` of the test's own without persistence: `restart()` loses every key."""
    with RedisServer(tmp_path / "redis", persistent=False) as redis:
        yield redis


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A `redis-server` of the test's own with an AOF (fsync always): `restart()` keeps every key."""
    with RedisServer(tmp_path / "redis", persistent=True) as redis:
        yield redis


class ThreadedTcpProxy:
    """A `TcpProxy` in front of `host:port`, run on its own event loop thread.

    Use it as a context manager; `cut()` and `restore()` return once the link is down or up.
    """

    def __init__(self, host: str, port: int) -> None:
        self._proxy = TcpProxy(host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"tcp-proxy:{port}", daemon=True)

    def __enter__(self) -> ThreadedTcpProxy:
        self._thread.start()
        self._run(self._proxy.start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run(self._proxy.close())
            self._run(asyncio.sleep(0.05))  # let the aborted transports finish closing
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def endpoint(self) -> str:
        """`127.0.0.1:<port>`."""
        return f"127.0.0.1:{self._proxy.port}"

    def url(self, template_url: str) -> str:
        """`template_url` with its host and port pointed at the proxy."""
        return self._proxy.url(template_url)

    def cut(self) -> None:
        """Reset every open connection and refuse new ones."""
        self._run(self._proxy.cut())

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        self._run(self._proxy.restore())

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)


@contextlib.contextmanager
def threaded_tcp_proxy(url_or_endpoint: str) -> Iterator[ThreadedTcpProxy]:
    """A started `ThreadedTcpProxy` in front of the server of a URL (`redis://…`) or `host:port`."""
    parts = urlsplit(url_or_endpoint if "://" in url_or_endpoint else f"tcp://{url_or_endpoint}")
    with ThreadedTcpProxy(parts.hostname or "127.0.0.1", parts.port or 0) as proxy:
        yield proxy
