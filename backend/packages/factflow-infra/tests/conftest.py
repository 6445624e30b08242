from __future__ import annotations

# Storage and database fixtures (factflow_infra.testing); found by name.
from factflow_infra.testing.plugin import (  # noqa: F401
    database_url,
    db_engine,
    db_session_factory,
    filesystem_storage,
    postgres_database_url,
    s3_server,
    s3_storage,
    sqlite_database_url,
    storage_provider,
)
