"""Test fixtures and helpers for factflow and for adapter authors.

Fixtures (import them into a `conftest.py`, or load `factflow_infra.testing.plugin` with `-p`):
queues (`queue_provider` over memory and Redis, `redis_url`), storage (`storage_provider` over the
filesystem and moto-backed S3, `filesystem_storage`, `s3_storage`) and databases (`database_url`
over SQLite and PostgreSQL, a migrated `db_engine`). Service-backed fixtures skip when the service
is unreachable, and fail instead when `CI=true`.
"""

from __future__ import annotations

from ._database import in_ci, postgres_test_schema, service_unavailable
from ._faults import RedisServer, ThreadedTcpProxy, free_port, threaded_tcp_proxy
from ._queue import (
    RecordingHandler,
    TcpProxy,
    flushed_redis_url,
    hold_redis_db,
    redis_test_url,
    scoped_queue,
    wait_until,
)
from ._s3 import S3TestServer, run_s3_server, unique_bucket_name

__all__ = (
    "RecordingHandler",
    "RedisServer",
    "S3TestServer",
    "TcpProxy",
    "ThreadedTcpProxy",
    "flushed_redis_url",
    "free_port",
    "hold_redis_db",
    "in_ci",
    "postgres_test_schema",
    "redis_test_url",
    "run_s3_server",
    "scoped_queue",
    "service_unavailable",
    "threaded_tcp_proxy",
    "unique_bucket_name",
    "wait_until",
)
