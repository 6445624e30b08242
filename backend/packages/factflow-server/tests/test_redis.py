"""The server on Redis Streams (production queue): the demo runs, health shows the provider.

Uses a Redis test database of its own (`factflow_infra.testing`); unreachable Redis skips the
test locally and fails it when `CI=true`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from factflow_infra.testing._queue import redis_db, redis_url
from factflow_server.testing import RunningServer, run_config, store_config, wait_execution

__all__ = ("redis_db", "redis_url")

pytestmark = pytest.mark.redis


def test_demo_on_redis_streams(
    redis_url: str, factflow_server_factory: Callable[..., RunningServer], demo_yaml: str
) -> None:
    server = factflow_server_factory(queue_url=redis_url)
    with server.client() as client:
        debug = client.get("/api/v1/system/health", params={"debug": "true"}).json()
        assert debug["status"] == "healthy"
        assert debug["debug"]["queue"]["provider"] == "redis"
        assert debug["debug"]["settings"]["queue_url"].startswith("redis://")
        execution = run_config(client, store_config(client, demo_yaml), tag="on-redis")
        result = wait_execution(client, execution["id"])
        assert result["status"] == "completed"
        assert result["stats"]["message_counts"]["published"] == 8
        routes = client.get("/api/v1/executions/on-redis/routes").json()["routes"]
        assert [route["total_messages"] for route in routes] == [1, 5, 2]
    server.stop()
