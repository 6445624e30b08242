"""Start-up steps: shipped pipelines (strict and warn-only), start-up lock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from factflow_server.testing import RunningServer, ServerProcess, embedded_settings, serve_in_thread

DEMO = Path(__file__).resolve().parents[4] / "backend" / "config" / "pipelines" / "demo.yaml"
BROKEN = 'version: "1.0"\nroutes:\n  r:\n    inbound: {queue: q}\n    adapters:\n      - type: no_such_adapter\n'


def _env(tmp_path: Path, pipelines: Path, **extra: str) -> dict[str, str]:
    return {
        "FACTFLOW_DATA_DIR": str(tmp_path / "data"),
        "FACTFLOW_PIPELINES_DIR": str(pipelines),
        "FACTFLOW_LOG_FORMAT": "json",
        **extra,
    }


def test_strict_mode_aborts_on_an_invalid_shipped_pipeline(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "broken.yaml").write_text(BROKEN)
    process = ServerProcess.start(["serve", "--embedded", "--port", "0"], env=_env(tmp_path, pipelines), cwd=tmp_path)
    try:
        assert process.wait(timeout=60) == 1
    finally:
        process.kill()
    output = process.output()
    assert "E103" in output
    assert "start-up failed during shipped pipelines" in output
    assert "listening on" not in output


def test_warn_only_mode_starts_despite_an_invalid_shipped_pipeline(
    factflow_server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    pipelines = tmp_path / "shipped"
    pipelines.mkdir()
    (pipelines / "broken.yaml").write_text(BROKEN)
    (pipelines / "demo.yaml").write_text(DEMO.read_text())
    server = factflow_server_factory(pipelines_dir=pipelines, config_validator_strict=False)
    with server.client() as client:
        assert client.get("/api/v1/adapters").status_code == 200


def test_second_server_on_the_same_data_dir_refuses_to_start(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "shared")
    with serve_in_thread(settings):
        with pytest.raises(RuntimeError, match="start-up failed"), serve_in_thread(settings):
            pass


def test_demo_pipeline_is_loaded_in_strict_mode(factflow_server_factory: Callable[..., RunningServer]) -> None:
    server = factflow_server_factory(pipelines_dir=DEMO.parent, config_validator_strict=True)
    with server.client() as client:
        assert client.get("/metrics").status_code == 200
