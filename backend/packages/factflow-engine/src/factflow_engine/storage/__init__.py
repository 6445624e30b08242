"""Stage storage: stage outputs, fan-out manifests and their sidecars (docs/concepts/storage.md)."""

from __future__ import annotations

from factflow_engine.config import StorageMetadataConfig, StorageMetadataField

from ._backend import DEFAULT_WRITE_RETRY_DELAYS, StorageBackendAdapter, StorageCounters
from ._metadata import (
    ENGINE_VERSION,
    RESERVED_SIDECAR_FIELDS,
    SIDECAR_SCHEMA_VERSION,
    WRITTEN_BY,
    SidecarKind,
    StageIdentity,
    WriteProvenance,
    build_embedding_metadata,
    build_sidecar,
    extract_metadata_fields,
)
from ._stage_storage import ObjectCreatedCallback, StageStorageAdapter, StageStorageResult, StorageBackoff

__all__ = (
    # adapters
    "StorageBackendAdapter",
    "StageStorageAdapter",
    "StageStorageResult",
    "StorageBackoff",
    "StorageCounters",
    "ObjectCreatedCallback",
    "DEFAULT_WRITE_RETRY_DELAYS",
    # sidecars
    "StageIdentity",
    "WriteProvenance",
    "SidecarKind",
    "build_sidecar",
    "extract_metadata_fields",
    "build_embedding_metadata",
    "RESERVED_SIDECAR_FIELDS",
    "SIDECAR_SCHEMA_VERSION",
    "WRITTEN_BY",
    "ENGINE_VERSION",
    # config models
    "StorageMetadataConfig",
    "StorageMetadataField",
)
