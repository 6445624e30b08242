"""Each fault scenario, run `FACTFLOW_FAULT_RUNS` times (3 in `make test`, 20 in `make soak`).

See `_harness.py` for what every run checks and measures.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from factflow_infra.testing import RedisServer, run_s3_server, threaded_tcp_proxy, unique_bucket_name
from factflow_infra.testing.plugin import postgres_database_url

from ._harness import (
    FAST,
    SLOW,
    Pipeline,
    measure_recovery,
    recorded,
    server,
    start_run,
    undisturbed_seconds,
    verify_outcome,
    wait_done,
    wait_for_answer,
    wait_for_progress,
)

__all__ = ("postgres_database_url",)

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

RUNS = range(int(os.environ.get("FACTFLOW_FAULT_RUNS", "3")))
OUTAGE_SECONDS = 10.0
"""How long a backend stays away in the outage scenarios."""
_baselines: dict[str, float] = {}


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    redis = RedisServer(tmp_path / "redis", persistent=False)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def _env(database_url: str, queue_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "FACTFLOW_DATABASE_URL": database_url,
        "FACTFLOW_QUEUE_URL": queue_url,
        "FACTFLOW_STORAGE_URI": f"file://{tmp_path / 'storage'}",
    }


def _outage(
    scenario: str,
    tmp_path: Path,
    env: dict[str, str],
    baseline_env: dict[str, str],
    pipeline: Pipeline,
    cut: object,
    restore: object,
) -> None:
    """Break a backend at 30 % for `OUTAGE_SECONDS`, bring it back, and check and measure the rest."""
    assert callable(cut) and callable(restore)
    baseline = undisturbed_seconds(tmp_path, baseline_env, pipeline, _baselines, "slow")
    with recorded(scenario) as record, server(tmp_path / "run", env) as handle, handle.client() as client:
        execution_id = start_run(client, pipeline)
        wait_for_progress(client, execution_id, 0.3, pipeline)
        cut()
        time.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for something to happen
        restore()
        back_at = time.monotonic()
        handled_at_back = wait_for_answer(client, execution_id)
        result = wait_done(client, execution_id)
        done_at = time.monotonic()
        verify_outcome(client, execution_id, result, pipeline)
        measure_recovery(
            record,
            back_at=back_at,
            done_at=done_at,
            handled_at_back=handled_at_back,
            pipeline=pipeline,
            baseline=baseline,
        )


@pytest.mark.parametrize("run", RUNS)
def test_redis_restarted_without_persistence(
    run: int, tmp_path: Path, postgres_database_url: str, redis_server: RedisServer
) -> None:
    env = _env(postgres_database_url, redis_server.url, tmp_path)
    baseline = undisturbed_seconds(tmp_path, env, SLOW, _baselines, "slow")
    with recorded("redis restart") as record, server(tmp_path / "run", env) as handle, handle.client() as client:
        execution_id = start_run(client, SLOW)
        wait_for_progress(client, execution_id, 0.3, SLOW)
        redis_server.restart()  # every stream, group and dedupe record is gone
        back_at = time.monotonic()
        handled_at_back = wait_for_answer(client, execution_id)
        result = wait_done(client, execution_id)
        done_at = time.monotonic()
        verify_outcome(client, execution_id, result, SLOW)
        measure_recovery(
            record, back_at=back_at, done_at=done_at, handled_at_back=handled_at_back, pipeline=SLOW, baseline=baseline
        )


@pytest.mark.parametrize("run", RUNS)
def test_redis_unreachable(run: int, tmp_path: Path, postgres_database_url: str, redis_server: RedisServer) -> None:
    with threaded_tcp_proxy(redis_server.url) as proxy:
        _outage(
            "redis unreachable",
            tmp_path,
            _env(postgres_database_url, proxy.url(redis_server.url), tmp_path),
            _env(postgres_database_url, redis_server.url, tmp_path),
            SLOW,
            proxy.cut,
            proxy.restore,
        )


@pytest.mark.parametrize("run", RUNS)
def test_postgres_outage(run: int, tmp_path: Path, postgres_database_url: str, redis_server: RedisServer) -> None:
    with threaded_tcp_proxy(postgres_database_url.split("@", 1)[1].split("/", 1)[0]) as proxy:
        _outage(
            "postgres outage",
            tmp_path,
            _env(proxy.url(postgres_database_url), redis_server.url, tmp_path),
            _env(postgres_database_url, redis_server.url, tmp_path),
            SLOW,
            proxy.cut,
            proxy.restore,
        )


@pytest.mark.parametrize("run", RUNS)
def test_storage_outage(run: int, tmp_path: Path, postgres_database_url: str, redis_server: RedisServer) -> None:
    with run_s3_server() as s3, threaded_tcp_proxy(s3.endpoint) as proxy:
        bucket = unique_bucket_name()
        direct = {**_env(postgres_database_url, redis_server.url, tmp_path), **s3.environment(bucket=bucket)}
        proxied = {**direct, "FACTFLOW_S3_ENDPOINT": proxy.endpoint}
        _outage("storage outage", tmp_path, proxied, direct, SLOW, proxy.cut, proxy.restore)


@pytest.mark.parametrize("run", RUNS)
def test_server_killed_at_40_percent(
    run: int, tmp_path: Path, postgres_database_url: str, redis_server: RedisServer
) -> None:
    env = _env(postgres_database_url, redis_server.url, tmp_path)
    baseline = undisturbed_seconds(tmp_path, env, FAST, _baselines, "fast")
    with recorded("server SIGKILL") as record, server(tmp_path / "run", env) as handle:
        with handle.client() as client:
            execution_id = start_run(client, FAST)
            wait_for_progress(client, execution_id, 0.4, FAST)
        handled_at_kill = 0
        handle.kill()
        handle.start()
        back_at = handle.launched_at
        with handle.client() as client:
            handled_at_kill = wait_for_answer(client, execution_id)
            result = wait_done(client, execution_id)
            done_at = time.monotonic()
            verify_outcome(client, execution_id, result, FAST)
            detail = client.get(f"/api/v1/executions/{execution_id}").json()
            assert detail["recovery_count"] == 1
        measure_recovery(
            record, back_at=back_at, done_at=done_at, handled_at_back=handled_at_kill, pipeline=FAST, baseline=baseline
        )


@pytest.mark.parametrize("run", RUNS)
def test_server_stopped_with_sigterm_drains_and_resumes(
    run: int, tmp_path: Path, postgres_database_url: str, redis_server: RedisServer
) -> None:
    env = _env(postgres_database_url, redis_server.url, tmp_path)
    baseline = undisturbed_seconds(tmp_path, env, SLOW, _baselines, "slow")
    with recorded("server SIGTERM") as record, server(tmp_path / "run", env) as handle:
        with handle.client() as client:
            execution_id = start_run(client, SLOW)
            wait_for_progress(client, execution_id, 0.3, SLOW)
        stopping_at = time.monotonic()
        assert handle.stop(signal.SIGTERM, timeout=60) == 0
        # Running invocations drain within the grace period (5 s here), then the process exits.
        assert time.monotonic() - stopping_at < 5 + 10, handle.output()
        handle.start()
        back_at = handle.launched_at
        with handle.client() as client:
            handled_at_back = wait_for_answer(client, execution_id)
            result = wait_done(client, execution_id)
            done_at = time.monotonic()
            verify_outcome(client, execution_id, result, SLOW)
            detail = client.get(f"/api/v1/executions/{execution_id}").json()
            assert detail["recovery_count"] == 1  # it was left `interrupted` and resumed
        measure_recovery(
            record, back_at=back_at, done_at=done_at, handled_at_back=handled_at_back, pipeline=SLOW, baseline=baseline
        )
