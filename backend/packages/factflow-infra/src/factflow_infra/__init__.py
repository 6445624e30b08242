"""Queue, storage and database providers."""

from __future__ import annotations

from .queue import MemoryQueueProvider, RedisStreamsQueueProvider, create_queue_provider

__all__: tuple[str, ...] = (
    # queue
    "create_queue_provider",
    "MemoryQueueProvider",
    "RedisStreamsQueueProvider",
)
