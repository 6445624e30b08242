from __future__ import annotations

import pytest

from factflow_infra.errors import UnsupportedProviderUrlError
from factflow_infra.workers import MemoryWorkerRegistry, RedisWorkerRegistry, create_worker_registry


async def test_the_registry_follows_the_queue_url() -> None:
    memory = create_worker_registry("memory://", ttl_seconds=3)
    assert isinstance(memory, MemoryWorkerRegistry)
    assert memory.ttl_seconds == 3
    redis_registry = create_worker_registry("redis://127.0.0.1:6379/5", ttl_seconds=4, key_prefix="x")
    try:
        assert isinstance(redis_registry, RedisWorkerRegistry)
        assert (redis_registry.ttl_seconds, redis_registry.key_prefix) == (4, "x")
    finally:
        await redis_registry.close()


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(UnsupportedProviderUrlError, match="kafka"):
        create_worker_registry("kafka://broker:9092")


def test_a_bad_ttl_is_refused() -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        MemoryWorkerRegistry(ttl_seconds=0)
