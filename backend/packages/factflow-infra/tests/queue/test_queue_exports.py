from __future__ import annotations

import factflow_infra
import factflow_infra.queue


def test_queue_exports_are_pinned() -> None:
    assert set(factflow_infra.queue.__all__) == {
        "create_queue_provider",
        "MemoryQueueProvider",
        "RedisStreamsQueueProvider",
        "MemorySubscription",
        "RedisSubscription",
        "RedisSharedState",
    }
    for name in factflow_infra.queue.__all__:
        assert hasattr(factflow_infra.queue, name), name


def test_the_package_reexports_the_spec_queue_names() -> None:
    for name in ("create_queue_provider", "MemoryQueueProvider", "RedisStreamsQueueProvider"):
        assert name in factflow_infra.__all__
        assert getattr(factflow_infra, name) is getattr(factflow_infra.queue, name)
