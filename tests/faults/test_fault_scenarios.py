"""Each fault scenario, run `FACTFLOW_FAULT_RUNS` times (3 in `make test`, 20 in `make soak`).

See `_harness.py` for what every run checks and measures.
"""

from __future__ import annotations

import gc
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from factflow_infra.testing import RedisServer, run_s3_server, threaded_tcp_proxy, unique_bucket_name
from factflow_infra.testing.plugin import postgres_database_url, restartable_redis

from ._harness import (
    FAST,
    SLOW,
    Pipeline,
    finish_and_measure,
    recorded,
    server,
    start_run,
    undisturbed_seconds,
    wait_for_progress,
)

__all__ = ("postgres_database_url", "restartable_redis")

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

RUNS = range(int(os.environ.get("FACTFLOW_FAULT_RUNS", "3")))
OUTAGE_SECONDS = 10.0
"""How long a backend stays away in the outage scenarios."""
_baselines: dict[str, float] = {}


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
    cut: Callable[[], None],
    restore: Callable[[], None],
) -> None:
    """Break a backend at 30 % for `OUTAGE_SECONDS`, bring it back, and check and measure the rest."""
    baseline = undisturbed_seconds(tmp_path, baseline_env, pipeline, _baselines, "slow")
    with recorded(scenario) as record, server(tmp_path / "run", env) as handle, handle.client() as client:
        execution_id = start_run(client, pipeline)
        wait_for_progress(client, execution_id, 0.3, pipeline)
        cut()
        time.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for something to happen
        restore()
        finish_and_measure(record, client, execution_id, back_at=time.monotonic(), pipeline=pipeline, baseline=baseline)


@pytest.mark.parametrize("run", RUNS)
def test_redis_restarted_without_persistence(
    run: int, tmp_path: Path, postgres_database_url: str, restartable_redis: RedisServer
) -> None:
    env = _env(postgres_database_url, restartable_redis.url, tmp_path)
    baseline = undisturbed_seconds(tmp_path, env, SLOW, _baselines, "slow")
    with recorded("redis restart") as record, server(tmp_path / "run", env) as handle, handle.client() as client:
        execution_id = start_run(client, SLOW)
        wait_for_progress(client, execution_id, 0.3, SLOW)
        restartable_redis.restart()  # every stream, group and dedupe record is gone
        finish_and_measure(record, client, execution_id, back_at=time.monotonic(), pipeline=SLOW, baseline=baseline)


@pytest.mark.parametrize("run", RUNS)
def test_redis_unreachable(
    run: int, tmp_path: Path, postgres_database_url: str, restartable_redis: RedisServer
) -> None:
    with threaded_tcp_proxy(restartable_redis.url) as proxy:
        _outage(
            "redis unreachable",
            tmp_path,
            _env(postgres_database_url, proxy.url(restartable_redis.url), tmp_path),
            _env(postgres_database_url, restartable_redis.url, tmp_path),
            SLOW,
            proxy.cut,
            proxy.restore,
        )


@pytest.mark.parametrize("run", RUNS)
def test_postgres_outage(run: int, tmp_path: Path, postgres_database_url: str, restartable_redis: RedisServer) -> None:
    with threaded_tcp_proxy(postgres_database_url.split("@", 1)[1].split("/", 1)[0]) as proxy:
        _outage(
            "postgres outage",
            tmp_path,
            _env(proxy.url(postgres_database_url), restartable_redis.url, tmp_path),
            _env(postgres_database_url, restartable_redis.url, tmp_path),
            SLOW,
            proxy.cut,
            proxy.restore,
        )


@pytest.mark.parametrize("run", RUNS)
# The test's own moto server and TCP proxy leave keep-alive sockets to the garbage collector when
# the proxy cuts them under load; that is the harness's cleanup, not the product's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_storage_outage(run: int, tmp_path: Path, postgres_database_url: str, restartable_redis: RedisServer) -> None:
    with run_s3_server() as s3, threaded_tcp_proxy(s3.endpoint) as proxy:
        bucket = unique_bucket_name()
        direct = {**_env(postgres_database_url, restartable_redis.url, tmp_path), **s3.environment(bucket=bucket)}
        proxied = {**direct, "FACTFLOW_S3_ENDPOINT": proxy.endpoint}
        _outage("storage outage", tmp_path, proxied, direct, SLOW, proxy.cut, proxy.restore)
    # Collect those sockets now, under this test's filter: left to a later collection they are
    # reported in whichever test of this worker process runs next.
    gc.collect()


@pytest.mark.parametrize("run", RUNS)
def test_server_killed_at_40_percent(
    run: int, tmp_path: Path, postgres_database_url: str, restartable_redis: RedisServer
) -> None:
    env = _env(postgres_database_url, restartable_redis.url, tmp_path)
    baseline = undisturbed_seconds(tmp_path, env, FAST, _baselines, "fast")
    with recorded("server SIGKILL") as record, server(tmp_path / "run", env) as handle:
        with handle.client() as client:
            execution_id = start_run(client, FAST)
            wait_for_progress(client, execution_id, 0.4, FAST)
        handle.kill()
        handle.start()
        with handle.client() as client:
            finish_and_measure(
                record,
                client,
                execution_id,
                back_at=handle.launched_at,
                pipeline=FAST,
                baseline=baseline,
                resumed=True,
            )


@pytest.mark.parametrize("run", RUNS)
def test_server_stopped_with_sigterm_drains_and_resumes(
    run: int, tmp_path: Path, postgres_database_url: str, restartable_redis: RedisServer
) -> None:
    env = _env(postgres_database_url, restartable_redis.url, tmp_path)
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
        with handle.client() as client:
            finish_and_measure(
                record,
                client,
                execution_id,
                back_at=handle.launched_at,
                pipeline=SLOW,
                baseline=baseline,
                resumed=True,
            )
