"""Pick a queue provider from a URL scheme (docs/guides/deployment.md, provider selection)."""

from __future__ import annotations

from urllib.parse import urlsplit

from factflow_foundation import FactflowSettings

from ..errors import UnsupportedProviderUrlError
from ._memory import MemoryQueueProvider
from ._redis import RedisStreamsQueueProvider
from ._redis_support import mask_url

__all__ = ("create_queue_provider",)


def create_queue_provider(
    url: str,
    *,
    settings: FactflowSettings | None = None,
    visibility_timeout_seconds: float | None = None,
    operation_timeout_seconds: float = 5.0,
    publish_timeout_seconds: float | None = None,
    consumer: str | None = None,
) -> MemoryQueueProvider | RedisStreamsQueueProvider:
    """The provider for `url`, not yet connected: `memory://` or `redis://` / `rediss://`.

    Args:
        url: `FACTFLOW_QUEUE_URL`.
        settings: Supplies `queue_visibility_timeout_seconds` when the argument below is unset.
        visibility_timeout_seconds: Redis reclaim threshold (default 300 s).
        operation_timeout_seconds: Limit of one Redis call.
        publish_timeout_seconds: Redis: give up publishing after this long unreachable; `None`
            retries until the caller cancels.
        consumer: Redis consumer name (a worker's id); `<host>:<pid>:<boot-id>` when omitted.

    Raises:
        UnsupportedProviderUrlError: any other scheme; start-up stops.
    """
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme == "memory":
        return MemoryQueueProvider()
    if scheme in ("redis", "rediss"):
        if visibility_timeout_seconds is None:
            visibility_timeout_seconds = settings.queue_visibility_timeout_seconds if settings is not None else 300.0
        return RedisStreamsQueueProvider(
            url,
            visibility_timeout_seconds=visibility_timeout_seconds,
            operation_timeout_seconds=operation_timeout_seconds,
            publish_timeout_seconds=publish_timeout_seconds,
            consumer=consumer,
        )
    raise UnsupportedProviderUrlError(
        f"Unsupported queue URL {mask_url(url)!r}: use `memory://`, `redis://…` or `rediss://…`.",
        context={"scheme": scheme or None},
    )
