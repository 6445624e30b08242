"""Graceful shutdown of a real server process (runtime.md §8): SIGINT/SIGTERM mid-execution."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import pytest

from factflow_execution import PipelineExecutionRepository
from factflow_infra.database import create_database_engine, create_session_factory
from factflow_protocols import ErrorInfoData
from factflow_server.testing import ServerProcess, run_config, store_config


def _env(tmp_path: Path) -> dict[str, str]:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir(exist_ok=True)
    return {
        "FACTFLOW_DATA_DIR": str(tmp_path / "data"),
        "FACTFLOW_PIPELINES_DIR": str(pipelines),
        "FACTFLOW_SHUTDOWN_GRACE_SECONDS": "1",
        "FACTFLOW_LOG_FORMAT": "json",
    }


async def _stored_execution(database: Path, execution_id: str) -> tuple[str, ErrorInfoData | None]:
    engine = create_database_engine(f"sqlite+aiosqlite:///{database}")
    try:
        execution = await PipelineExecutionRepository(create_session_factory(engine)).get(execution_id)
        return execution.status, execution.error_info
    finally:
        await engine.dispose()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_execution_interrupts_it_and_exits_0(tmp_path: Path, slow_yaml: str, sig: signal.Signals) -> None:
    process = ServerProcess.start(["serve", "--embedded", "--port", "0"], env=_env(tmp_path), cwd=tmp_path)
    try:
        base_url = process.wait_until_listening()
        with httpx.Client(base_url=base_url, timeout=30) as client:
            execution = run_config(client, store_config(client, slow_yaml))
            with client.stream("GET", f"/api/v1/executions/{execution['id']}/events") as stream:
                lines = stream.iter_lines()
                events: list[tuple[str, dict[str, object]]] = []
                name = ""
                for line in lines:
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        events.append((name, json.loads(line[6:])))
                        if name == "execution.snapshot":
                            process.send_signal(sig)
                        if name == "stream.end":
                            break
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    assert events[0][0] == "execution.snapshot"
    end = events[-1]
    assert end[0] == "stream.end"
    assert end[1]["reason"] == "shutdown"
    assert end[1]["status"] == "interrupted"
    status, _ = asyncio.run(_stored_execution(tmp_path / "data" / "factflow.db", execution["id"]))
    assert status == "interrupted"
    output = process.output()
    assert "server stopped" in output


@pytest.mark.parametrize(("recovery", "expected"), [("1", "running"), ("0", "interrupted")])
def test_restart_after_a_hard_kill_recovers_before_serving(
    tmp_path: Path, slow_yaml: str, recovery: str, expected: str
) -> None:
    """A server killed hard leaves `running` rows; the next start resumes them (or, with recovery off,
    leaves them `interrupted`) before it accepts requests."""
    env = {**_env(tmp_path), "FACTFLOW_RECOVERY_ENABLED": recovery}
    first = ServerProcess.start(["serve", "--embedded", "--port", "0"], env=env, cwd=tmp_path)
    try:
        with httpx.Client(base_url=first.wait_until_listening(), timeout=30) as client:
            execution = run_config(client, store_config(client, slow_yaml))
    finally:
        first.kill()
    status, _ = asyncio.run(_stored_execution(tmp_path / "data" / "factflow.db", execution["id"]))
    assert status == "running"
    second = ServerProcess.start(["serve", "--embedded", "--port", "0"], env=env, cwd=tmp_path)
    try:
        with httpx.Client(base_url=second.wait_until_listening(), timeout=30) as client:
            detail = client.get(f"/api/v1/executions/{execution['id']}").json()
            assert detail["status"] == expected
            assert detail["recovery_count"] == (1 if expected == "running" else 0)
            assert client.post(f"/api/v1/executions/{execution['id']}/cancel").status_code in (200, 202)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        second.kill()
