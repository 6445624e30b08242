from __future__ import annotations

from pathlib import Path

import pytest

from factflow_foundation import FactflowSettings
from factflow_foundation.settings_reference import describe_settings, main, render_markdown

REPO_ROOT = Path(__file__).resolve().parents[4]
PAGE = REPO_ROOT / "docs" / "reference" / "settings.md"


def test_every_setting_is_described_with_its_variable() -> None:
    infos = {info.env_var: info for info in describe_settings()}
    assert set(infos) == {f"FACTFLOW_{name.upper()}" for name in FactflowSettings.model_fields}
    assert all(info.description for info in infos.values())
    assert infos["FACTFLOW_PORT"].default == "8000"
    assert infos["FACTFLOW_S3_SECURE"].default == "1"
    assert infos["FACTFLOW_API_TOKEN"].default == "unset"
    assert infos["FACTFLOW_DATABASE_URL"].default.startswith("unset")
    assert infos["FACTFLOW_LOG_FORMAT"].default == "auto"
    assert infos["FACTFLOW_WORKER_POOLS"].default == "default"
    assert infos["FACTFLOW_LOCAL_WORKER"].default == "1"
    assert infos["FACTFLOW_WORKER_TTL_SECONDS"].default == "10"
    assert infos["FACTFLOW_WORKER_ID"].default == "unset"


def test_described_defaults_are_the_real_ones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in FactflowSettings.model_fields:
        monkeypatch.delenv(f"FACTFLOW_{name.upper()}", raising=False)
    settings = FactflowSettings()
    infos = {info.env_var: info for info in describe_settings()}
    assert infos["FACTFLOW_QUEUE_RETENTION_SECONDS"].default == str(int(settings.queue_retention_seconds))
    assert infos["FACTFLOW_MAX_MESSAGE_BYTES"].default == str(settings.max_message_bytes)


def test_committed_page_is_current() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_markdown(), "run `make docs`"
    assert main(["--check", str(PAGE)]) == 0


def test_check_fails_on_a_stale_page(tmp_path: Path) -> None:
    page = tmp_path / "settings.md"
    assert main(["--check", str(page)]) == 1
    assert main(["--write", str(page)]) == 0
    assert main(["--check", str(page)]) == 0
