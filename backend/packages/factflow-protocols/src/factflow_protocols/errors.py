"""Errors shared by adapters and providers."""

from __future__ import annotations

from factflow_foundation import FactflowError, ServiceUnavailableError

__all__ = (
    "InvalidStorageKeyError",
    "NonRetryableError",
    "QueueError",
    "QueueUnavailableError",
    "StorageError",
    "StorageNotFoundError",
    "StorageUnavailableError",
)


class NonRetryableError(FactflowError):
    """Raised by an adapter for input that can never succeed.

    The branch goes straight to the dead-letter queue: no retries, no breaker count.
    """

    default_code = "non_retryable"


class QueueError(FactflowError):
    """A queue provider failed."""

    default_code = "queue_error"


class QueueUnavailableError(QueueError, ServiceUnavailableError):
    """The queue backend cannot be reached."""

    default_code = "queue_unavailable"


class StorageError(FactflowError):
    """A storage provider failed."""

    default_code = "storage_error"


class StorageNotFoundError(StorageError):
    """No object is stored at the key."""

    default_code = "object_not_found"


class StorageUnavailableError(StorageError, ServiceUnavailableError):
    """The storage backend cannot be reached or refused the operation."""

    default_code = "storage_unavailable"


class InvalidStorageKeyError(StorageError, ValueError):
    """A key breaks the key rules (leading `/`, empty or `..` segment, backslash, reserved suffix, length)."""

    default_code = "invalid_key"
