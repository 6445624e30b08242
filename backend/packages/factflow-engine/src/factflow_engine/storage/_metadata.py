"""Sidecar fields of stage outputs, fan-out manifests and artefacts (docs/concepts/storage.md)."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from factflow_engine.conditions import parse_field_path, resolve_field
from factflow_engine.config import RESERVED_SIDECAR_FIELDS, StorageMetadataField  # one list for E512 and sidecars

__all__ = (
    "ENGINE_VERSION",
    "RESERVED_SIDECAR_FIELDS",
    "SIDECAR_SCHEMA_VERSION",
    "WRITTEN_BY",
    "SidecarKind",
    "StageIdentity",
    "WriteProvenance",
    "build_embedding_metadata",
    "build_sidecar",
    "extract_metadata_fields",
)

logger = logging.getLogger(__name__)

SIDECAR_SCHEMA_VERSION = 1
"""`schema_version` of every sidecar the engine writes."""


def _engine_version() -> str:
    try:
        return importlib.metadata.version("factflow-engine")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree without metadata
        return "0.0.0"


ENGINE_VERSION = _engine_version()
"""Installed version of factflow-engine."""

WRITTEN_BY = f"factflow-engine/{ENGINE_VERSION}"
"""`written_by` of every sidecar the engine writes."""

SidecarKind = Literal["stage_output", "fanout_manifest", "artefact"]


@dataclass(frozen=True, slots=True)
class StageIdentity:
    """Where stored objects come from: one adapter entry of one route of one execution."""

    execution_id: str
    route_id: str
    stage: str
    adapter_name: str
    adapter_index: int
    config_hash: str | None = None
    config_id: str | None = None
    config_version: int | None = None


@dataclass(frozen=True, slots=True)
class WriteProvenance:
    """The message and invocation an object was written for."""

    correlation_id: str
    parent_correlation_id: str | None = None
    lineage_id: str | None = None
    replay_batch_id: str | None = None
    original_object_key: str | None = None
    """The replay source object (`metadata.replay_source_key` of the envelope)."""
    delivery_count: int = 1


def extract_metadata_fields(payload: Mapping[str, Any], fields: Iterable[StorageMetadataField]) -> dict[str, Any]:
    """Copy payload values named by `metadata_fields` into a dict keyed by field name.

    A value missing from the payload is left out; a malformed path is ignored (the validator
    reports it as E512 before anything runs).
    """
    found: dict[str, Any] = {}
    for item in fields:
        segments = parse_field_path(item.path)
        if segments is None:
            continue
        present, value = resolve_field(payload, segments)
        if present:
            found[item.name] = value
    return found


def build_sidecar(
    *,
    kind: SidecarKind,
    key: str,
    content_type: str,
    content_length: int,
    checksum: str,
    identity: StageIdentity,
    provenance: WriteProvenance,
    created_at: str,
    custom: Mapping[str, Any] | None = None,
    children: list[str] | None = None,
) -> dict[str, Any]:
    """The full sidecar of one object: every reserved field, then the custom fields.

    Custom fields sit at the top level beside the reserved ones. A custom field whose name is
    reserved is dropped with a warning, so no adapter can forge provenance.
    """
    sidecar: dict[str, Any] = {
        "schema_version": SIDECAR_SCHEMA_VERSION,
        "kind": kind,
        "key": key,
        "content_type": content_type,
        "content_length": content_length,
        "checksum": checksum,
        "execution_id": identity.execution_id,
        "route_id": identity.route_id,
        "stage": identity.stage,
        "adapter_name": identity.adapter_name,
        "adapter_index": identity.adapter_index,
        "correlation_id": provenance.correlation_id,
        "parent_correlation_id": provenance.parent_correlation_id,
        "lineage_id": provenance.lineage_id,
        "config_id": identity.config_id,
        "config_version": identity.config_version,
        "config_hash": identity.config_hash,
        "replay_batch_id": provenance.replay_batch_id,
        "original_object_key": provenance.original_object_key,
        "delivery_count": provenance.delivery_count,
        "created_at": created_at,
        "written_by": WRITTEN_BY,
    }
    if kind == "fanout_manifest":
        sidecar["children"] = list(children or [])
    for name, value in (custom or {}).items():
        if name in RESERVED_SIDECAR_FIELDS:
            logger.warning(
                "Custom sidecar field %r of stage %r collides with a reserved field; dropped",
                name,
                identity.stage,
            )
            continue
        sidecar[name] = value
    return sidecar


def build_embedding_metadata(payload: Mapping[str, Any], *, model: str | None = None) -> dict[str, Any]:
    """Sidecar fields describing the embeddings in `payload`.

    Looks for the vectors in `embeddings` (a list of vectors) or `embedding` (one vector), and
    for the model and slot in `embedding_model`/`model` and `embedding_slot`/`slot`. An
    explicit `model` wins. Fields that cannot be determined are `None`.

    Returns:
        `{embedding_model, embedding_slot, embedding_dimensions, embedding_count}`.
    """
    vectors: list[Any] = []
    many = payload.get("embeddings")
    one = payload.get("embedding")
    if isinstance(many, list):
        vectors = [vector for vector in many if isinstance(vector, list)]
    elif isinstance(one, list):
        vectors = [one]
    dimensions = len(vectors[0]) if vectors else None
    resolved_model = model or payload.get("embedding_model") or payload.get("model")
    slot = payload.get("embedding_slot", payload.get("slot"))
    return {
        "embedding_model": resolved_model if isinstance(resolved_model, str) else None,
        "embedding_slot": slot if isinstance(slot, str | int) and not isinstance(slot, bool) else None,
        "embedding_dimensions": dimensions,
        "embedding_count": len(vectors),
    }
