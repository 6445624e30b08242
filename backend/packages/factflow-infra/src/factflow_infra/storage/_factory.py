"""Pick a storage provider from a URI scheme (docs/guides/deployment.md, provider selection)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from factflow_foundation import FactflowSettings

from ..errors import UnsupportedProviderUrlError
from ._filesystem import FilesystemStorageProvider
from ._listing import StorageProvider
from ._s3 import MinioStorageProvider

__all__ = ("StorageProviderBuilder", "StorageProviderFactory", "StorageSettings", "create_storage_provider")


class StorageSettings(BaseModel):
    """What a storage provider needs: the URI and, for S3, the `FACTFLOW_S3_*` values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    """`file://<path>`, `s3://<bucket>[/prefix]` or `minio://<bucket>[/prefix]`."""
    s3_endpoint: str | None = None
    """`host:port` or `http[s]://host:port`; AWS S3 when unset."""
    s3_access_key: SecretStr | None = None
    """Access key; unset means the client's credential chain."""
    s3_secret_key: SecretStr | None = None
    """Secret key."""
    s3_region: str | None = None
    """Bucket region."""
    s3_secure: bool = True
    """Use TLS (ignored when the endpoint carries a scheme)."""
    s3_max_workers: int = Field(default=16, ge=1)
    """Threads running S3 client calls."""
    s3_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    """Seconds to open a connection to the endpoint."""
    s3_read_timeout_seconds: float = Field(default=60.0, gt=0)
    """Seconds to wait for response data."""
    s3_max_retries: int = Field(default=3, ge=0)
    """Retries of a failed connection or 5xx answer."""

    @classmethod
    def from_settings(cls, settings: FactflowSettings, *, uri: str | None = None) -> StorageSettings:
        """Narrow the process settings to storage.

        Args:
            settings: The process settings.
            uri: Overrides `settings.storage_uri`.

        Raises:
            UnsupportedProviderUrlError: neither `uri` nor `FACTFLOW_STORAGE_URI` is set.
        """
        chosen = uri or settings.storage_uri
        if not chosen:
            raise UnsupportedProviderUrlError(
                "No storage URI: set `FACTFLOW_STORAGE_URI` (file://, s3:// or minio://)."
            )
        return cls(
            uri=chosen,
            s3_endpoint=settings.s3_endpoint,
            s3_access_key=settings.s3_access_key,
            s3_secret_key=settings.s3_secret_key,
            s3_region=settings.s3_region,
            s3_secure=settings.s3_secure,
        )


StorageProviderBuilder = Callable[[StorageSettings], StorageProvider]
"""Builds a provider from settings whose URI has the builder's scheme."""


def _build_filesystem(settings: StorageSettings) -> StorageProvider:
    raw = settings.uri[len("file://") :]
    if not raw:
        raise UnsupportedProviderUrlError(f"Storage URI {settings.uri!r} has no path; use `file://<path>`.")
    return FilesystemStorageProvider(Path(raw))


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _build_minio(settings: StorageSettings) -> StorageProvider:
    parts = urlsplit(settings.uri)
    if not parts.netloc:
        raise UnsupportedProviderUrlError(
            f"Storage URI {settings.uri!r} has no bucket; use `{parts.scheme}://<bucket>[/prefix]`."
        )
    if parts.query or parts.fragment:
        raise UnsupportedProviderUrlError(
            f"Storage URI {settings.uri!r} must not carry a query or fragment; use `FACTFLOW_S3_*` settings."
        )
    access_key = _secret(settings.s3_access_key)
    secret_key = _secret(settings.s3_secret_key)
    if bool(access_key) != bool(secret_key):
        raise UnsupportedProviderUrlError("Set both `FACTFLOW_S3_ACCESS_KEY` and `FACTFLOW_S3_SECRET_KEY`, or neither.")
    return MinioStorageProvider(
        parts.netloc,
        prefix=parts.path.strip("/"),
        endpoint=settings.s3_endpoint,
        access_key=access_key,
        secret_key=secret_key,
        region=settings.s3_region,
        secure=settings.s3_secure,
        max_workers=settings.s3_max_workers,
        connect_timeout=settings.s3_connect_timeout_seconds,
        read_timeout=settings.s3_read_timeout_seconds,
        max_retries=settings.s3_max_retries,
    )


class StorageProviderFactory:
    """Maps URI schemes to provider builders: `file`, `s3` and `minio` out of the box.

    `register` adds a scheme (tests, plug-ins); an unknown scheme is an error naming the known ones.
    """

    def __init__(self) -> None:
        self._builders: dict[str, StorageProviderBuilder] = {
            "file": _build_filesystem,
            "s3": _build_minio,
            "minio": _build_minio,
        }

    @property
    def schemes(self) -> tuple[str, ...]:
        """The registered schemes, sorted."""
        return tuple(sorted(self._builders))

    def register(self, scheme: str, builder: StorageProviderBuilder) -> None:
        """Handle URIs `<scheme>://…` with `builder` (replacing any earlier one)."""
        self._builders[scheme.lower()] = builder

    def create(self, settings: StorageSettings) -> StorageProvider:
        """Build the provider for `settings.uri` (not started: call `start()` or use `async with`).

        Raises:
            UnsupportedProviderUrlError: the scheme is unknown or the URI is malformed.
        """
        scheme, separator, _ = settings.uri.partition("://")
        builder = self._builders.get(scheme.lower()) if separator else None
        if builder is None:
            known = ", ".join(f"{name}://" for name in self.schemes)
            raise UnsupportedProviderUrlError(
                f"Unsupported storage URI {settings.uri!r}: the scheme must be one of {known}.",
                context={"uri": settings.uri, "schemes": list(self.schemes)},
            )
        return builder(settings)


_default_factory = StorageProviderFactory()


def create_storage_provider(uri: str, settings: StorageSettings | FactflowSettings | None = None) -> StorageProvider:
    """Build the storage provider for `uri` (docs/guides/deployment.md).

    Args:
        uri: `file://<path>`, `s3://<bucket>[/prefix]` or `minio://<bucket>[/prefix]`.
        settings: Where the `FACTFLOW_S3_*` values come from; their `uri` is ignored.

    Returns:
        The provider, not started yet.

    Raises:
        UnsupportedProviderUrlError: the scheme is unknown or the URI is malformed.
    """
    if isinstance(settings, FactflowSettings):
        narrowed = StorageSettings.from_settings(settings, uri=uri)
    elif settings is not None:
        narrowed = settings.model_copy(update={"uri": uri})
    else:
        narrowed = StorageSettings(uri=uri)
    return _default_factory.create(narrowed)
