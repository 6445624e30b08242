"""Queue providers: the in-process memory queue and Redis Streams, picked by URL scheme."""

from __future__ import annotations

from ._factory import create_queue_provider
from ._memory import MemoryQueueProvider, MemorySubscription
from ._redis import RedisStreamsQueueProvider
from ._redis_shared import RedisSharedState
from ._redis_subscription import RedisSubscription

__all__ = (
    # selection
    "create_queue_provider",
    # providers
    "MemoryQueueProvider",
    "RedisStreamsQueueProvider",
    # state shared by the processes of an execution
    "RedisSharedState",
    # subscriptions
    "MemorySubscription",
    "RedisSubscription",
)
