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
    postgres_database_url,
    sqlite_database_url,
)
from ._s3 import s3_server, s3_storage
from ._storage import filesystem_storage, storage_provider

__all__ = (
    "database_url",
    "db_engine",
    "db_session_factory",
    "filesystem_storage",
    "postgres_database_url",
    "pytest_configure",
    "s3_server",
    "s3_storage",
    "sqlite_database_url",
    "storage_provider",
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers the fixtures apply, for projects without factflow's pytest settings."""
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL service")
