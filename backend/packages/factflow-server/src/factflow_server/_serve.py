"""Run the app under uvicorn with factflow's signal handling and start-up announcement."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

from factflow_foundation import FactflowSettings, freeze_startup_heap, raise_young_collection_threshold

from ._app import create_app
from ._runtime import ServerRuntime
from ._version import SERVER_VERSION

__all__ = ("FactflowServer", "announce_line", "bind_socket", "make_server", "run_server")

logger = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def announce_line(host: str, port: int, *, embedded: bool) -> str:
    """`factflow-server <version> listening on http://HOST:PORT` (+ ` (embedded)`)."""
    shown = f"[{host}]" if ":" in host else host
    suffix = " (embedded)" if embedded else ""
    return f"factflow-server {SERVER_VERSION} listening on http://{shown}:{port}{suffix}"


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket before start-up, so a busy port fails fast and port 0 works."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class FactflowServer(uvicorn.Server):
    """uvicorn's server with factflow's lifecycle.

    SIGINT/SIGTERM (main thread only) set `should_exit` and at the same moment start draining
    the container, so SSE streams end while uvicorn waits for open connections. Unlike plain
    uvicorn, the signal is not re-raised afterwards, so a clean shutdown exits 0. A second
    SIGINT forces the exit.
    """

    def __init__(
        self, config: uvicorn.Config, *, runtime: ServerRuntime, on_started: Callable[[FactflowServer], None]
    ) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.startup_failed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            yield
        finally:
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: int) -> None:
        if self.should_exit:
            if sig == signal.SIGINT:
                logger.warning("second SIGINT: forcing exit")
                self.force_exit = True
            return
        logger.info("received %s: shutting down", signal.Signals(sig).name)
        self.should_exit = True
        self.runtime.request_shutdown()

    def request_exit(self) -> None:
        """Begin a graceful shutdown from any thread: the same path as a signal."""
        loop = self.loop
        if loop is None or loop.is_closed():
            self.should_exit = True
            return
        loop.call_soon_threadsafe(self._exit_in_loop)

    def _exit_in_loop(self) -> None:
        self.should_exit = True
        self.runtime.request_shutdown()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        try:
            await super().startup(sockets=sockets)
        except SystemExit:
            # uvicorn exits the process when the lifespan fails; we report it and exit 1 ourselves.
            self.startup_failed = True
            self.should_exit = True
            return
        if self.started and not self.should_exit:
            self._on_started(self)

    @property
    def bound_port(self) -> int | None:
        """The listening port (useful with port 0), once started."""
        for server in getattr(self, "servers", []):
            for sock in server.sockets or ():
                port = sock.getsockname()[1]
                return int(port)
        return None


def make_server(
    app: FastAPI, settings: FactflowSettings, *, on_started: Callable[[FactflowServer], None]
) -> FactflowServer:
    """A `FactflowServer` for `app` (its runtime comes from `app.state`)."""
    runtime: ServerRuntime = app.state.runtime
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
        # Streams end during the drain; this only bounds a connection that refuses to close.
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 15,
    )
    return FactflowServer(config, runtime=runtime, on_started=on_started)


def run_server(settings: FactflowSettings, *, embedded: bool) -> int:
    """Serve until SIGINT/SIGTERM; returns the process exit code (0 clean, 1 start-up failure)."""
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", settings.host, settings.port, exc)
        print(f"factflow-server: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    app = create_app(settings, embedded=embedded)
    port = int(sock.getsockname()[1])

    def started(_server: FactflowServer) -> None:
        # Start-up objects (modules, schemas, the container) live as long as the process: keep
        # them out of every later collection, and collect the young generation less often
        # (`freeze_startup_heap` and `raise_young_collection_threshold` say what that saves).
        frozen = freeze_startup_heap()
        raise_young_collection_threshold()
        logger.debug("froze %d start-up objects out of garbage collection", frozen)
        print(announce_line(settings.host, port, embedded=embedded), file=sys.stderr, flush=True)

    server = make_server(app, settings, on_started=started)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if server.startup_failed or not server.started:
        print("factflow-server: start-up failed; see the log above.", file=sys.stderr)
        return 1
    return 0
