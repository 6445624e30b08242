"""Pick the worker registry that matches the queue: memory for `memory://`, Redis for `redis://`."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import UnsupportedProviderUrlError
from ..queue._redis_support import mask_url
from ._memory import MemoryWorkerRegistry
from ._model import DEFAULT_DEAD_RETENTION_SECONDS, DEFAULT_WORKER_TTL_SECONDS
from ._redis import RedisWorkerRegistry

__all__ = ("create_worker_registry",)


def create_worker_registry(
    queue_url: str,
    *,
    ttl_seconds: float = DEFAULT_WORKER_TTL_SECONDS,
    dead_retention_seconds: float = DEFAULT_DEAD_RETENTION_SECONDS,
    key_prefix: str = "factflow:workers",
) -> MemoryWorkerRegistry | RedisWorkerRegistry:
    """The registry beside the queue at `queue_url` (`FACTFLOW_QUEUE_URL`); close it with `close()`.

    Workers find each other where they find their messages: a `memory://` queue has one process,
    so its registry is in memory; a Redis queue's registry lives in the same Redis database.

    Raises:
        UnsupportedProviderUrlError: any other scheme, or a malformed Redis URL.
    """
    scheme = urlsplit(queue_url).scheme.lower() if "://" in queue_url else ""
    if scheme == "memory":
        return MemoryWorkerRegistry(ttl_seconds=ttl_seconds, dead_retention_seconds=dead_retention_seconds)
    if scheme in ("redis", "rediss"):
        return RedisWorkerRegistry.from_url(
            queue_url, ttl_seconds=ttl_seconds, dead_retention_seconds=dead_retention_seconds, key_prefix=key_prefix
        )
    raise UnsupportedProviderUrlError(
        f"Unsupported queue URL {mask_url(queue_url)!r}: use `memory://`, `redis://…` or `rediss://…`.",
        context={"scheme": scheme or None},
    )
