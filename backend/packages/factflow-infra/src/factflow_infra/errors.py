"""Errors raised by the infra providers.

Driver exceptions (SQLAlchemy, asyncpg, aiosqlite, minio, urllib3) are translated into these
classes at the provider boundary, chained with `from exc`, so no package above infra needs to
import a driver. Storage errors themselves live in `factflow_protocols` (`StorageError` tree);
this module adds what is specific to infra.
"""

from __future__ import annotations

from typing import Any

from factflow_foundation import FactflowError, ServiceUnavailableError

__all__ = (
    "DatabaseError",
    "DatabaseIntegrityError",
    "DatabaseUnavailableError",
    "ServerLockHeldError",
    "UnsupportedProviderUrlError",
)


class UnsupportedProviderUrlError(FactflowError, ValueError):
    """A queue or storage URL has a scheme no provider handles, or is malformed.

    Start-up stops on it (docs/guides/deployment.md, provider selection).
    """

    default_code = "unsupported_provider_url"


class DatabaseError(FactflowError):
    """A database operation failed for a reason other than an outage."""

    default_code = "database_error"


class DatabaseUnavailableError(DatabaseError, ServiceUnavailableError):
    """The database cannot be reached, refused the connection, or is locked (API: 503)."""

    default_code = "database_unavailable"


class DatabaseIntegrityError(DatabaseError):
    """A write broke a constraint (unique, not-null, foreign key).

    Args:
        message: One sentence naming the constraint.
        constraint_name: The violated constraint, when the driver reports it (PostgreSQL).
        columns: The columns involved, when the driver reports them (SQLite).
        context: Extra structured facts.
    """

    default_code = "database_integrity_error"

    def __init__(
        self,
        message: str,
        *,
        constraint_name: str | None = None,
        columns: tuple[str, ...] = (),
        context: dict[str, Any] | None = None,
    ) -> None:
        merged = {"constraint_name": constraint_name, "columns": list(columns), **(context or {})}
        super().__init__(message, context=merged)
        self.constraint_name = constraint_name
        self.columns = columns


class ServerLockHeldError(FactflowError):
    """Another server holds the start-up lock (docs/guides/deployment.md); this one must not start.

    `context` carries `location` (database or lock file) and `holder` (who holds it, when known).
    """

    default_code = "server_lock_held"
