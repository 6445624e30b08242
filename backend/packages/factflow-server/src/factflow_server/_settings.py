"""Effective server settings: embedded defaults, command-line overrides and a masked summary."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from factflow_foundation import FactflowSettings

__all__ = ("MissingBackendsError", "effective_settings", "mask_url", "settings_summary")


class MissingBackendsError(RuntimeError):
    """Production mode was asked for, but backend URLs are unset.

    Args:
        missing: The variable names that are unset.
    """

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            "Missing required settings: "
            + ", ".join(missing)
            + ". Set them, or start with `--embedded` for local defaults."
        )
        self.missing = missing


def effective_settings(
    base: FactflowSettings,
    *,
    embedded: bool,
    host: str | None = None,
    port: int | None = None,
    log_level: str | None = None,
) -> FactflowSettings:
    """Apply command-line overrides and, in embedded mode, the local defaults (docs/guides/deployment.md).

    Explicit settings always win over embedded defaults. In embedded mode the data directory
    is created.

    Raises:
        MissingBackendsError: not embedded and a backend URL is unset.
    """
    updates: dict[str, Any] = {}
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    if log_level is not None:
        updates["log_level"] = log_level.upper()
    settings = base.model_copy(update=updates)
    if embedded:
        settings = settings.with_embedded_defaults()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return settings
    missing = settings.missing_backends()
    if missing:
        raise MissingBackendsError(missing)
    return settings


def mask_url(url: str | None) -> str | None:
    """The URL with any password (or lone user credential) replaced by `***`."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    credentials = f"{user}:***" if parts.password is not None else "***"
    return urlunsplit((parts.scheme, f"{credentials}@{host}", parts.path, parts.query, parts.fragment))


def settings_summary(settings: FactflowSettings) -> dict[str, Any]:
    """The effective settings an operator needs to see, with credentials masked."""
    return {
        "database_url": mask_url(settings.database_url),
        "queue_url": mask_url(settings.queue_url),
        "storage_uri": mask_url(settings.storage_uri),
        "s3_endpoint": settings.s3_endpoint,
        "s3_access_key": "***" if settings.s3_access_key else None,
        "s3_secret_key": "***" if settings.s3_secret_key else None,
        "data_dir": str(settings.data_dir),
        "pipelines_dir": str(settings.pipelines_dir),
        "host": settings.host,
        "port": settings.port,
        "max_concurrent_executions": settings.max_concurrent_executions,
        "max_request_bytes": settings.max_request_bytes,
        "config_validator_strict": settings.config_validator_strict,
        "api_token": "***" if settings.api_token_value else None,
        "recovery_enabled": settings.recovery_enabled,
        "shutdown_grace_seconds": settings.shutdown_grace_seconds,
    }
