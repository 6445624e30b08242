"""Every way PostgreSQL can turn the server away answers 503 `database_unavailable` with `Retry-After`.

The server runs as a throw-away role on a throw-away database (both dropped afterwards), so the
test can refuse connections and end backends without touching anyone else's sessions. The
server's start-up lock connection is spared: it holds the advisory lock for the server's life.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from factflow_infra.testing import service_unavailable
from factflow_infra.testing._database import resolve_test_database_url
from factflow_server.testing import RunningServer, assert_error, embedded_settings, postgres_lock_key, serve_in_thread

pytestmark = pytest.mark.postgres


def _admin(statements: list[str]) -> None:
    """Run `statements` as the test server's superuser, outside a transaction (ALTER/CREATE DATABASE)."""

    async def run() -> None:
        engine = create_async_engine(
            make_url(resolve_test_database_url()).difference_update_query(["search_path"]),
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={"timeout": 10},
        )
        try:
            async with engine.connect() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


def _end_pool_backends(role: str) -> str:
    # Every session of the role except the one holding the start-up lock.
    return (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE usename = '{role}' AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')"
    )


@pytest.fixture(scope="module")
def outage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str, str]]:
    name = f"factflow_outage_{uuid.uuid4().hex[:12]}"
    try:
        _admin([f'CREATE ROLE "{name}" LOGIN', f'CREATE DATABASE "{name}" OWNER "{name}"'])
    except OSError as exc:
        service_unavailable(f"PostgreSQL is unreachable: {exc}")
    try:
        base = make_url(resolve_test_database_url())
        url = base.set(username=name, database=name).render_as_string(hide_password=False)
        settings = embedded_settings(Path(tmp_path_factory.mktemp("outage")), database_url=url)
        with serve_in_thread(settings, lock_key=postgres_lock_key(url)) as server:
            yield server, name, name
    finally:
        _admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{name}"'])


def _assert_unavailable_then_recovered(server: RunningServer, *, refuse: list[str], restore: list[str]) -> None:
    with server.client() as client:
        assert client.get("/api/v1/configs").status_code == 200
        _admin(refuse)
        try:
            for path in ("/api/v1/configs", "/api/v1/executions", "/api/v1/lineage/failures"):
                response = client.get(path)
                assert_error(response, 503, "database_unavailable")
                assert response.headers["retry-after"] == "5"
        finally:
            _admin(restore)
        assert client.get("/api/v1/configs").status_code == 200


def test_database_not_accepting_connections(outage_server: tuple[RunningServer, str, str]) -> None:
    server, role, database = outage_server
    _assert_unavailable_then_recovered(
        server,
        refuse=[f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false', _end_pool_backends(role)],
        restore=[f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'],
    )


def test_too_many_clients(outage_server: tuple[RunningServer, str, str]) -> None:
    server, role, _database = outage_server
    # The lock connection stays, so a limit of one leaves no room for the pool.
    _assert_unavailable_then_recovered(
        server,
        refuse=[f'ALTER ROLE "{role}" CONNECTION LIMIT 1', _end_pool_backends(role)],
        restore=[f'ALTER ROLE "{role}" CONNECTION LIMIT -1'],
    )


def test_role_may_no_longer_log_in(outage_server: tuple[RunningServer, str, str]) -> None:
    server, role, _database = outage_server
    _assert_unavailable_then_recovered(
        server,
        refuse=[f'ALTER ROLE "{role}" NOLOGIN', _end_pool_backends(role)],
        restore=[f'ALTER ROLE "{role}" LOGIN'],
    )


def test_ended_backends_are_replaced_without_an_error(outage_server: tuple[RunningServer, str, str]) -> None:
    server, role, _database = outage_server
    with server.client() as client:
        assert client.get("/api/v1/configs").status_code == 200
        _admin([_end_pool_backends(role)])
        # The pool checks connections before use: an ended backend is replaced, not reported.
        assert client.get("/api/v1/configs").status_code == 200
