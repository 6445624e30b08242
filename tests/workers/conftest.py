"""What the worker tests share: the production-mode settings and the processes of one test."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from factflow_infra.testing.plugin import postgres_database_url, redis_db, redis_url
from factflow_server.testing import ServerProcess

__all__ = ("WORKER_TTL_SECONDS", "Cluster", "postgres_database_url", "redis_db", "redis_url")

WORKER_TTL_SECONDS = 4
"""Short, so a killed or cut-off worker is dead (and its entries claimable) within seconds."""


@pytest.fixture
def env(tmp_path: Path, postgres_database_url: str, redis_url: str) -> dict[str, str]:
    (tmp_path / "pipelines").mkdir()
    return {
        "FACTFLOW_DATABASE_URL": postgres_database_url,
        "FACTFLOW_QUEUE_URL": redis_url,
        "FACTFLOW_STORAGE_URI": f"file://{tmp_path / 'storage'}",
        "FACTFLOW_DATA_DIR": str(tmp_path / "data"),
        "FACTFLOW_PIPELINES_DIR": str(tmp_path / "pipelines"),
        "FACTFLOW_SHUTDOWN_GRACE_SECONDS": "2",
        "FACTFLOW_WORKER_TTL_SECONDS": str(WORKER_TTL_SECONDS),
        "FACTFLOW_LOG_LEVEL": "WARNING",
    }


class Cluster:
    """Child processes of one test: the server and its workers; every one is stopped at teardown."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.processes: dict[str, ServerProcess] = {}

    def server(self, *args: str) -> str:
        server = ServerProcess.start(["serve", "--port", "0", *args], env=self.env, cwd=self.tmp_path)
        self.processes["server"] = server
        return server.wait_until_listening()

    def worker(self, worker_id: str, *args: str, log_level: str = "WARNING") -> ServerProcess:
        process = ServerProcess.start(
            ["worker", "--id", worker_id, *args], env={**self.env, "FACTFLOW_LOG_LEVEL": log_level}, cwd=self.tmp_path
        )
        self.processes[worker_id] = process
        process.wait_for_line(lambda line: f"worker {worker_id} serving pools" in line)
        return process

    def stop(self) -> None:
        for process in self.processes.values():
            if process.process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            finally:
                process.kill()


@pytest.fixture
def cluster(tmp_path: Path, env: dict[str, str]) -> Iterator[Cluster]:
    running = Cluster(tmp_path, env)
    try:
        yield running
    finally:
        running.stop()
