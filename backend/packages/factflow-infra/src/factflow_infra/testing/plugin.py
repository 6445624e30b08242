"""pytest plugin with factflow_infra's storage and database fixtures.

Use it from another package's `tests/conftest.py` by importing the fixtures you need
(`pytest_plugins` is only honoured in the root conftest)::

    from factflow_infra.testing.plugin import database_url, db_engine, sqlite_database_url, postgres_database_url

or load every fixture at once with `pytest -p factflow_infra.testing.plugin`, or
`pytest_plugins = ["factflow_infra.testing.plugin"]` in the repository's root `conftest.py`.
See the package README for each fixture.
"""

from __future__ import annotations

import pytest

from ._database import (
    database_url,
    db_engine,
    db_session_factory,
    in_ci,
    postgres_database_url,
    postgres_test_schema,
    service_unavailable,
    sqlite_database_url,
)
from ._faults import persistent_redis, restartable_redis
from ._queue import queue_provider, queue_provider_factory, queue_scope, redis_db, redis_url, tcp_proxy
from ._s3 import S3TestServer, run_s3_server, s3_server, s3_storage, unique_bucket_name
from ._schema import ColumnShape, TableShape, metadata_shapes, reflect_shapes
from ._storage import filesystem_storage, storage_provider

__all__ = (
    # fixtures
    "database_url",
    "db_engine",
    "queue_provider",
    "queue_provider_factory",
    "queue_scope",
    "redis_db",
    "redis_url",
    "tcp_proxy",
    "db_session_factory",
    "filesystem_storage",
    "persistent_redis",
    "restartable_redis",
    "postgres_database_url",
    "s3_server",
    "s3_storage",
    "sqlite_database_url",
    "storage_provider",
    # helpers
    "ColumnShape",
    "S3TestServer",
    "TableShape",
    "in_ci",
    "metadata_shapes",
    "postgres_test_schema",
    "reflect_shapes",
    "run_s3_server",
    "service_unavailable",
    "unique_bucket_name",
    # hooks
    "pytest_configure",
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers the fixtures apply, for projects without factflow's pytest settings."""
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL service")
