"""Queue fixtures and helpers: a Redis test database, providers over memory and Redis, handlers, a TCP proxy.

Redis comes from `FACTFLOW_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/0`); the database
number in that URL is replaced by the fixture's own (`redis_db`: a free one of 1–3, held through a
lock file for the test), which is flushed before and after each test. An unreachable server skips the Redis
variants, except with `CI=true`, where they fail.

Use them from a `conftest.py` by importing the fixtures you need::

    from factflow_infra.testing._queue import queue_provider, queue_provider_factory, redis_url
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from redis.exceptions import RedisError

from factflow_foundation import new_id
from factflow_protocols import MessageStatus, QueueMessage

from ..queue import MemoryQueueProvider, RedisStreamsQueueProvider
from ._database import service_unavailable

__all__ = (
    "DEFAULT_TEST_REDIS_URL",
    "QUEUE_BACKENDS",
    "REDIS_TEST_DBS",
    "TEST_REDIS_URL_ENV",
    "TEST_VISIBILITY_TIMEOUT_SECONDS",
    "QueueProvider",
    "QueueProviderFactory",
    "RecordingHandler",
    "TcpProxy",
    "append_raw_entry",
    "flushed_redis_url",
    "hold_redis_db",
    "queue_provider",
    "queue_provider_factory",
    "queue_scope",
    "redis_db",
    "redis_test_url",
    "redis_url",
    "scoped_queue",
    "tcp_proxy",
    "wait_until",
)

TEST_REDIS_URL_ENV = "FACTFLOW_TEST_REDIS_URL"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_TEST_DBS = (1, 2, 3)
"""Databases the queue tests may flush; each test holds one alone."""
TEST_VISIBILITY_TIMEOUT_SECONDS = 1.0
"""Visibility timeout of test Redis providers, so a RETRY is redelivered about as fast as in memory."""
QUEUE_BACKENDS = ("memory", "redis")
"""Ids of `queue_provider`'s parameters."""

QueueProvider = MemoryQueueProvider | RedisStreamsQueueProvider

_DB_LOCK_WAIT_SECONDS = 120.0
_probe_failures: dict[str, str | None] = {}


# ---------------------------------------------------------------------- names
def scoped_queue(scope: str, name: str) -> str:
    """The provider-level name of logical queue `name` in execution `scope`: `factflow:{<scope>}:<name>`."""
    return f"factflow:{{{scope}}}:{name}"


@pytest.fixture
def queue_scope() -> str:
    """A fresh execution id to scope a test's queues (and dedupe set) under."""
    return new_id()


# ---------------------------------------------------------------------- Redis
def redis_test_url(db: int) -> str:
    """`FACTFLOW_TEST_REDIS_URL` (or the default) pointed at database `db`."""
    parts = urlsplit(os.environ.get(TEST_REDIS_URL_ENV) or DEFAULT_TEST_REDIS_URL)
    return urlunsplit(parts._replace(path=f"/{db}"))


def _probe(url: str) -> str | None:
    """None when Redis answers, else why not (remembered for the session)."""
    if url not in _probe_failures:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        try:
            client.ping()
            _probe_failures[url] = None
        except (RedisError, OSError) as exc:
            _probe_failures[url] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        finally:
            client.close()
    return _probe_failures[url]


@contextlib.contextmanager
def hold_redis_db() -> Iterator[int]:
    """Hold one of the Redis test databases (1–3) alone, across pytest-xdist workers and concurrent runs.

    Each database is guarded by a lock file in the temp directory, so two sessions on one machine
    never flush each other's keys.
    """
    deadline = time.monotonic() + _DB_LOCK_WAIT_SECONDS
    while True:
        for db in REDIS_TEST_DBS:
            lock = FileLock(os.path.join(tempfile.gettempdir(), f"factflow-test-redis-db{db}.lock"))
            try:
                lock.acquire(timeout=0)
            except FileLockTimeout:
                continue
            try:
                yield db
            finally:
                lock.release()
            return
        if time.monotonic() > deadline:
            pytest.fail(f"No free Redis test database among {REDIS_TEST_DBS} after {_DB_LOCK_WAIT_SECONDS} s.")
        time.sleep(0.05)


@contextlib.contextmanager
def flushed_redis_url(db: int) -> Iterator[str]:
    """The URL of Redis test database `db`, flushed before and after (skips when Redis is down)."""
    url = redis_test_url(db)
    problem = _probe(url)
    if problem is not None:
        service_unavailable(f"Redis at {urlsplit(url).hostname}:{urlsplit(url).port} is unreachable: {problem}")
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.flushdb()
        yield url
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def redis_db() -> Iterator[int]:
    """A Redis database (1–3) this test holds alone (see `hold_redis_db`).

    Override the fixture in a `conftest.py` to use another database.
    """
    with hold_redis_db() as db:
        yield db


@pytest.fixture
def redis_url(redis_db: int) -> Iterator[str]:
    """A Redis URL on the test's own, empty database; flushed again afterwards."""
    with flushed_redis_url(redis_db) as url:
        yield url


# ---------------------------------------------------------------------- providers
class QueueProviderFactory:
    """Makes connected providers of one back end, and closes them at teardown.

    Redis: each call is a new instance (a new boot id, i.e. a restarted process) on the test's
    database, with `TEST_VISIBILITY_TIMEOUT_SECONDS` unless overridden. Memory: every call returns
    the same instance, since memory state lives in the instance.
    """

    def __init__(self, backend: Literal["memory", "redis"], redis_url: str | None = None) -> None:
        self.backend = backend
        self.redis_url = redis_url
        self._memory: MemoryQueueProvider | None = None
        self._created: list[QueueProvider] = []

    async def __call__(self, **options: Any) -> QueueProvider:
        provider: QueueProvider
        if self.backend == "memory":
            if self._memory is None:
                self._memory = MemoryQueueProvider(**options)
                self._created.append(self._memory)
            provider = self._memory
        else:
            assert self.redis_url is not None
            options.setdefault("visibility_timeout_seconds", TEST_VISIBILITY_TIMEOUT_SECONDS)
            provider = RedisStreamsQueueProvider(self.redis_url, **options)
            self._created.append(provider)
        await provider.connect()
        return provider

    async def aclose(self) -> None:
        for provider in reversed(self._created):
            await provider.close()


@pytest.fixture(params=[pytest.param("memory"), pytest.param("redis", marks=pytest.mark.redis)])
async def queue_provider_factory(request: pytest.FixtureRequest) -> AsyncIterator[QueueProviderFactory]:
    """A `QueueProviderFactory` for each back end in turn (`memory`, `redis`): for contract tests."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    factory = QueueProviderFactory(request.param, url)
    try:
        yield factory
    finally:
        await factory.aclose()


@pytest.fixture
async def queue_provider(queue_provider_factory: QueueProviderFactory) -> QueueProvider:
    """A connected provider of each back end in turn; closed at teardown."""
    return await queue_provider_factory()


async def append_raw_entry(provider: QueueProvider, queue: str, fields: Mapping[str, bytes]) -> None:
    """Append an entry with arbitrary fields (`mid`, `env`, …), e.g. an undecodable envelope."""
    await provider._append_raw(queue, dict(fields))


# ---------------------------------------------------------------------- handlers and waiting
Responder = Callable[[QueueMessage], MessageStatus | Awaitable[MessageStatus]]


class RecordingHandler:
    """A message handler that records every delivery and answers with `respond(message)`.

    Args:
        respond: Returns (or awaits to) the `MessageStatus`; may raise. Default: `ACK`.
    """

    def __init__(self, respond: Responder | None = None) -> None:
        self.respond: Responder = respond or (lambda message: MessageStatus.ACK)
        self.deliveries: list[QueueMessage] = []
        self.running = 0
        """Handler calls in progress."""
        self.max_running = 0
        """Most handler calls in progress at once."""
        self._changed = asyncio.Condition()

    async def __call__(self, message: QueueMessage) -> MessageStatus:
        self.deliveries.append(message)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        await self._notify()
        try:
            result = self.respond(message)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            self.running -= 1

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def ids(self) -> list[str]:
        """Message ids in delivery order."""
        return [message.id for message in self.deliveries]

    async def wait_for(self, count: int, within: float = 5.0) -> list[QueueMessage]:
        """Wait up to `within` seconds until at least `count` deliveries arrived; returns them all."""
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.deliveries) >= count)
        return list(self.deliveries)


async def wait_until(predicate: Callable[[], bool | Awaitable[bool]], *, within: float = 5.0, what: str = "") -> None:
    """Poll `predicate` every 10 ms until it holds; fail after `within` seconds.

    For conditions outside the test's control (a provider's internal state, Redis); wait on events
    where there are any.
    """
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s{': ' + what if what else ''}")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------- network faults
class TcpProxy:
    """A local TCP forwarder whose link can be cut and restored, to simulate a Redis outage.

    `cut()` resets every open connection and refuses new ones; `restore()` listens again on the
    same port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def url(self, template_url: str) -> str:
        """`template_url` with its host and port pointed at the proxy."""
        parts = urlsplit(template_url)
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def restore(self) -> None:
        if self._server is None:
            await self.start()

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._links):
            task.cancel()
        if self._links:
            await asyncio.wait(set(self._links))
        if server is not None:
            await server.wait_closed()

    async def close(self) -> None:
        await self.cut()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server = self._server
        if server is None:  # accepted just before a cut: the link is down
            client_writer.transport.abort()
            return
        self._writers.add(client_writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_writer.transport.abort()
            self._writers.discard(client_writer)
            return
        if self._server is not server:  # cut while connecting upstream
            for writer in (client_writer, upstream_writer):
                writer.transport.abort()
                self._writers.discard(writer)
            return
        self._writers.add(upstream_writer)
        for source, sink in ((client_reader, upstream_writer), (upstream_reader, client_writer)):
            task = asyncio.create_task(self._pump(source, sink), name=f"tcp-proxy:{self.port}")
            self._links.add(task)
            task.add_done_callback(self._links.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)


@contextlib.asynccontextmanager
async def tcp_proxy(url: str) -> AsyncIterator[TcpProxy]:
    """A started `TcpProxy` in front of the server of `url`; closed afterwards."""
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
