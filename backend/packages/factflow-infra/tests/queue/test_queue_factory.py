from __future__ import annotations

import pytest

from factflow_foundation import FactflowSettings
from factflow_infra.errors import UnsupportedProviderUrlError
from factflow_infra.queue import MemoryQueueProvider, RedisStreamsQueueProvider, create_queue_provider


def test_memory_scheme_gives_the_memory_queue() -> None:
    provider = create_queue_provider("memory://")
    assert isinstance(provider, MemoryQueueProvider)
    assert provider.redelivery_delay_seconds == 1.0


@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "rediss://user:secret@cache.example:6380/2", "REDIS://h"])
def test_redis_schemes_give_redis_streams(url: str) -> None:
    provider = create_queue_provider(url)
    assert isinstance(provider, RedisStreamsQueueProvider)
    assert provider.visibility_timeout_seconds == 300.0
    assert "secret" not in repr(provider)


def test_visibility_timeout_comes_from_settings_unless_given() -> None:
    settings = FactflowSettings(queue_visibility_timeout_seconds=42)
    from_settings = create_queue_provider("redis://h", settings=settings)
    explicit = create_queue_provider("redis://h", settings=settings, visibility_timeout_seconds=7)
    assert isinstance(from_settings, RedisStreamsQueueProvider) and isinstance(explicit, RedisStreamsQueueProvider)
    assert (from_settings.visibility_timeout_seconds, explicit.visibility_timeout_seconds) == (42, 7)


@pytest.mark.parametrize("url", ["amqp://broker", "kafka://k:9092", "unix:///tmp/redis.sock", "localhost:6379", ""])
def test_other_schemes_stop_start_up(url: str) -> None:
    with pytest.raises(UnsupportedProviderUrlError, match="memory://") as raised:
        create_queue_provider(url)
    assert raised.value.code == "unsupported_provider_url"


def test_credentials_never_reach_the_error() -> None:
    with pytest.raises(UnsupportedProviderUrlError) as raised:
        create_queue_provider("amqp://user:hunter2@broker")
    assert "hunter2" not in str(raised.value)
