from __future__ import annotations

import factflow_infra.database
import factflow_infra.errors
from factflow_foundation import ServiceUnavailableError


def test_database_exports_are_pinned() -> None:
    assert set(factflow_infra.database.__all__) == {
        "Base",
        "JSONType",
        "OrderedJSONType",
        "UTCDateTime",
        "create_database_engine",
        "create_session_factory",
        "ping_database",
        "is_sqlite",
        "SEARCH_PATH_OPTION",
        "SQLITE_BUSY_TIMEOUT_MS",
        "keyset_after",
        "translate_database_error",
        "translate_database_errors",
        "run_migrations",
        "current_revision",
        "head_revision",
        "alembic_config",
        "MIGRATIONS_DIR",
        "acquire_server_lock",
        "ServerLock",
        "SERVER_LOCK_KEY",
        "schema_lock_key",
        "SQLITE_LOCK_FILENAME",
    }
    for name in factflow_infra.database.__all__:
        assert hasattr(factflow_infra.database, name), name


def test_error_codes_are_stable() -> None:
    errors = factflow_infra.errors
    assert errors.DatabaseUnavailableError.default_code == "database_unavailable"
    assert errors.ServerLockHeldError.default_code == "server_lock_held"
    assert errors.UnsupportedProviderUrlError.default_code == "unsupported_provider_url"
    assert issubclass(errors.DatabaseUnavailableError, ServiceUnavailableError)
