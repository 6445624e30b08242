from __future__ import annotations

from pathlib import Path

import pytest

from factflow_foundation import FactflowSettings, get_settings, override_settings, reset_settings


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTFLOW_MAX_CONCURRENT_EXECUTIONS", "3")
    monkeypatch.setenv("FACTFLOW_CONFIG_VALIDATOR_STRICT", "0")
    monkeypatch.setenv("FACTFLOW_API_TOKEN", "s3cret")
    settings = FactflowSettings()
    assert settings.max_concurrent_executions == 3
    assert settings.config_validator_strict is False
    assert settings.api_token_value == "s3cret"
    assert "s3cret" not in repr(settings)


def test_defaults_match_the_settings_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no ./.env here
    settings = FactflowSettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.queue_visibility_timeout_seconds == 300
    assert settings.max_message_bytes == 4194304
    assert (settings.lineage_buffer_size, settings.lineage_batch_size, settings.lineage_flush_interval_ms) == (
        10000,
        500,
        200,
    )
    assert settings.api_token_value is None
    assert (settings.local_worker, settings.worker_pools) == (True, ("default",))
    assert (settings.worker_ttl_seconds, settings.worker_id) == (10, None)


def test_worker_settings_read_a_comma_list_of_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTFLOW_WORKER_POOLS", " gpu, io ,gpu,")
    monkeypatch.setenv("FACTFLOW_LOCAL_WORKER", "false")
    monkeypatch.setenv("FACTFLOW_WORKER_ID", "gpu-box-1")
    settings = FactflowSettings()
    assert settings.worker_pools == ("gpu", "io")
    assert settings.local_worker is False
    assert settings.worker_id == "gpu-box-1"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FACTFLOW_WORKER_POOLS", "gpu,bad pool", "invalid pool name 'bad pool'"),
        ("FACTFLOW_WORKER_POOLS", " , ", "at least one pool"),
        ("FACTFLOW_WORKER_TTL_SECONDS", "0", "greater than 0"),
        ("FACTFLOW_WORKER_ID", "has space", "invalid worker id"),
    ],
)
def test_bad_worker_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        FactflowSettings()


def test_embedded_defaults_fill_only_unset_backends(tmp_path: Path) -> None:
    settings = FactflowSettings(data_dir=tmp_path, queue_url="redis://localhost:6379/0")
    embedded = settings.with_embedded_defaults()
    assert embedded.database_url == f"sqlite+aiosqlite:///{tmp_path / 'factflow.db'}"
    assert embedded.queue_url == "redis://localhost:6379/0"
    assert embedded.storage_uri == f"file://{tmp_path / 'storage'}"
    assert FactflowSettings(data_dir=tmp_path).missing_backends() == [
        "FACTFLOW_DATABASE_URL",
        "FACTFLOW_QUEUE_URL",
        "FACTFLOW_STORAGE_URI",
    ]


def test_get_settings_is_cached_and_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_settings()
    first = get_settings()
    assert get_settings() is first
    with override_settings(port=9999) as patched:
        assert get_settings() is patched
        assert get_settings().port == 9999
    assert get_settings() is first
    monkeypatch.setenv("FACTFLOW_PORT", "8123")
    reset_settings()
    assert get_settings().port == 8123
    reset_settings()
