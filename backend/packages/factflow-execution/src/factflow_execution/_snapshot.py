"""The frozen `config_snapshot` of an execution (docs/concepts/executions.md)."""

from __future__ import annotations

from datetime import datetime
from importlib import metadata

from factflow_engine.config import ConfigSnapshot, PipelineGlobalConfig
from factflow_foundation import rfc3339, utc_now

from ._models import PipelineConfig

__all__ = ("ENGINE_VERSION", "build_snapshot")


def _engine_version() -> str:
    try:
        return metadata.version("factflow-engine")
    except metadata.PackageNotFoundError:  # running from a source tree without metadata
        return "0.0.0"


ENGINE_VERSION = _engine_version()
"""Version of factflow-engine recorded in every snapshot."""


def build_snapshot(
    config: PipelineConfig,
    parsed: PipelineGlobalConfig,
    *,
    captured_at: datetime | None = None,
    engine_version: str = ENGINE_VERSION,
) -> ConfigSnapshot:
    """The `ConfigSnapshot` of a stored config and its parsed pipeline, taken now; nothing later changes it."""
    return ConfigSnapshot.capture(
        parsed,
        config_yaml=config.config_yaml,
        config_hash=config.config_hash,
        config_version=config.version,
        config_name=config.name,
        captured_at=rfc3339(captured_at or utc_now()),
        engine_version=engine_version,
    )
