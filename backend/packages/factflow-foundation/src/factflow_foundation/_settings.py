"""Process settings, read from `FACTFLOW_*` environment variables and `./.env`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ("FactflowSettings", "get_settings", "override_settings", "reset_settings")

LogFormat = Literal["auto", "json", "console"]

_POOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""A worker pool name: the charset of queue names (`inbound.pool` in pipeline YAML)."""
_WORKER_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")


class FactflowSettings(BaseSettings):
    """Every setting of the server, engine and providers (docs/reference/settings.md)."""

    model_config = SettingsConfigDict(
        env_prefix="FACTFLOW_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        use_attribute_docstrings=True,
    )

    database_url: str | None = None
    """`postgresql+asyncpg://…` or `sqlite+aiosqlite://…`; required outside embedded mode."""
    queue_url: str | None = None
    """`memory://` or `redis[s]://…`; required outside embedded mode."""
    storage_uri: str | None = None
    """`file://…`, `s3://…` or `minio://…`; required outside embedded mode."""
    s3_endpoint: str | None = None
    """Object-store endpoint (`host:port`, or a URL)."""
    s3_access_key: SecretStr | None = None
    """Object-store access key."""
    s3_secret_key: SecretStr | None = None
    """Object-store secret key."""
    s3_region: str | None = None
    """Object-store region."""
    s3_secure: bool = True
    """Use TLS for the object store."""
    data_dir: Path = Path(".factflow")
    """Root for embedded data."""
    max_concurrent_executions: int = Field(default=10, ge=1)
    """Manager capacity: executions starting, running or stopping at once."""
    config_validator_strict: bool = True
    """Start-up validation mode: an invalid shipped pipeline aborts start-up."""
    pipelines_dir: Path = Path("backend/config/pipelines")
    """Shipped pipelines, validated and stored at start-up."""
    api_token: SecretStr | None = None
    """Bearer token for `/api/v1`; unset or empty means no authentication."""
    host: str = "127.0.0.1"
    """Bind address."""
    port: int = Field(default=8000, ge=0, le=65535)
    """Bind port."""
    log_level: str = "INFO"
    """Logging level."""
    log_format: LogFormat = "auto"
    """`json`, `console`, or `auto` (console on a TTY, JSON otherwise)."""
    db_auto_migrate: bool = True
    """Apply Alembic migrations to PostgreSQL at start-up (SQLite is always migrated)."""
    queue_visibility_timeout_seconds: float = Field(default=300, gt=0)
    """Redis reclaim threshold for entries left pending by a dead consumer."""
    queue_retention_seconds: float = Field(default=3600, ge=0)
    """Janitor delay before ordinary queues of finished executions are purged."""
    dlq_retention_seconds: float = Field(default=604800, ge=0)
    """Janitor delay before dead-letter queues of finished executions are purged."""
    lineage_retention_days: float | None = Field(default=None, gt=0)
    """Days after an execution finished until its lineage rows are deleted; unset keeps lineage forever.
    An execution started with its own `lineage_retention_days` uses that instead."""
    lineage_retention_interval_seconds: float = Field(default=3600, gt=0)
    """Time between two lineage retention passes."""
    max_request_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    """Largest HTTP request body the server reads; a bigger one is refused with 413."""
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    """Largest encoded payload an adapter may emit."""
    lineage_buffer_size: int = Field(default=10_000, ge=1)
    """Lineage events buffered before new ones are dropped."""
    lineage_batch_size: int = Field(default=500, ge=1)
    """Lineage events written per transaction."""
    lineage_flush_interval_ms: int = Field(default=200, ge=1)
    """Longest time an event waits in the buffer."""
    shutdown_grace_seconds: float = Field(default=30, ge=0)
    """Drain time for running invocations at shutdown."""
    recovery_enabled: bool = True
    """Resume interrupted executions at start-up."""
    recovery_max_attempts: int = Field(default=3, ge=0)
    """Recoveries of one execution before it stays `interrupted`."""
    stall_check_interval_seconds: float = Field(default=10, gt=0)
    """How often each running execution's stall detector looks (a last resort: lost-state reports
    and re-syncs complete executions without it)."""
    stall_timeout_seconds: float = Field(default=30, ge=0)
    """How long an execution must look stalled (in-flight > 0, queues empty, nothing running)
    before it is reconciled."""
    local_worker: bool = True
    """The server runs the routes of the `default` pool itself (`serve --no-local-worker` turns it off
    in production mode; embedded mode needs it)."""
    worker_pools: Annotated[tuple[str, ...], NoDecode] = ("default",)
    """Comma-separated pools whose routes a `factflow-server worker` runs; `--pool` wins."""
    worker_ttl_seconds: float = Field(default=10, gt=0)
    """Heartbeat age at which a worker counts as dead; workers renew every 2 s."""
    worker_id: str | None = None
    """Stable worker id (one live process per id); unset means `<host>:<pid>:<boot>`, new at each start."""

    @field_validator("worker_pools", mode="before")
    @classmethod
    def _split_worker_pools(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            if not value:
                raise ValueError("name at least one pool, e.g. `default`")
            for pool in value:
                if not isinstance(pool, str) or not _POOL_NAME.match(pool):
                    raise ValueError(
                        f"invalid pool name {pool!r}: up to 128 letters, digits, `.`, `_` and `-`,"
                        " starting with a letter or digit"
                    )
            return tuple(dict.fromkeys(value))
        return value

    @field_validator("worker_id")
    @classmethod
    def _check_worker_id(cls, value: str | None) -> str | None:
        if value and not _WORKER_ID.match(value):
            raise ValueError(f"invalid worker id {value!r}: 1-200 characters of letters, digits and `. _ : @ -`")
        return value or None

    def with_embedded_defaults(self) -> FactflowSettings:
        """Fill unset backend URLs with the embedded defaults under `data_dir`."""
        data_dir = self.data_dir.expanduser().resolve()
        updates: dict[str, Any] = {"data_dir": data_dir}
        if not self.database_url:
            updates["database_url"] = f"sqlite+aiosqlite:///{data_dir / 'factflow.db'}"
        if not self.queue_url:
            updates["queue_url"] = "memory://"
        if not self.storage_uri:
            updates["storage_uri"] = f"file://{data_dir / 'storage'}"
        return self.model_copy(update=updates)

    def missing_backends(self) -> list[str]:
        """Names of the backend variables that production mode requires but are unset."""
        required = {
            "FACTFLOW_DATABASE_URL": self.database_url,
            "FACTFLOW_QUEUE_URL": self.queue_url,
            "FACTFLOW_STORAGE_URI": self.storage_uri,
        }
        return [name for name, value in required.items() if not value]

    @property
    def api_token_value(self) -> str | None:
        """The bearer token, or None when authentication is off."""
        if self.api_token is None:
            return None
        return self.api_token.get_secret_value() or None


_cached: FactflowSettings | None = None
_overrides: list[FactflowSettings] = []


def get_settings() -> FactflowSettings:
    """Return the process-wide settings, read once (or the innermost `override_settings`)."""
    global _cached
    if _overrides:
        return _overrides[-1]
    if _cached is None:
        _cached = FactflowSettings()
    return _cached


def reset_settings() -> None:
    """Forget the cached settings so the next `get_settings()` reads the environment again."""
    global _cached
    _cached = None


@contextlib.contextmanager
def override_settings(**overrides: Any) -> Iterator[FactflowSettings]:
    """Make `get_settings()` return settings with `overrides` applied, for tests."""
    patched = get_settings().model_copy(update=overrides)
    _overrides.append(patched)
    try:
        yield patched
    finally:
        _overrides.remove(patched)
