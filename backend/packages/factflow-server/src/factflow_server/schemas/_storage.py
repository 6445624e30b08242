"""Storage schemas (docs/reference/http-api-endpoints.md ObjectInfo/ObjectMetadata, §5.5)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from factflow_protocols import JSONObject

from ._common import Timestamp

__all__ = ("RESERVED_METADATA_FIELDS", "ExecutionPrefix", "ListObjectsResponse", "ObjectInfo", "ObjectMetadata")


class ObjectMetadata(BaseModel):
    """The sidecar of an object: reserved fields, and every other field under `custom`."""

    key: str
    content_type: str
    content_length: int
    checksum: str | None = None
    """`sha256:<hex>` of the bytes."""
    created_at: Timestamp | None = None
    modified_at: Timestamp | None = None
    execution_id: str | None = None
    route_id: str | None = None
    stage: str | None = None
    adapter_name: str | None = None
    adapter_index: int | None = None
    correlation_id: str | None = None
    parent_correlation_id: str | None = None
    lineage_id: str | None = None
    config_id: str | None = None
    config_version: int | None = None
    config_hash: str | None = None
    replay_batch_id: str | None = None
    url: str | None = None
    title: str | None = None
    document_id: str | None = None
    original_object_key: str | None = None
    schema_version: int | None = None
    kind: Literal["stage_output", "fanout_manifest", "artefact"] | None = None
    delivery_count: int | None = None
    written_by: str | None = None
    children: list[Any] | None = None
    """Manifests only."""
    custom: JSONObject = Field(default_factory=dict)
    """Every other sidecar field, preserved."""


RESERVED_METADATA_FIELDS = frozenset(name for name in ObjectMetadata.model_fields if name != "custom")
"""Sidecar fields with a place of their own in `ObjectMetadata`."""


class ObjectInfo(BaseModel):
    """One listed object."""

    key: str
    size: int
    content_type: str
    last_modified: Timestamp
    etag: str | None
    metadata: ObjectMetadata | None
    """Null when `include_metadata=false`."""


class ExecutionPrefix(BaseModel):
    """An `executions/<uuid>/` prefix of the page, with its execution."""

    prefix: str
    execution_id: str
    status: str | None
    config_id: str | None
    config_name: str | None
    tag: str | None
    started_at: Timestamp | None


class ListObjectsResponse(BaseModel):
    """S1 page."""

    prefix: str
    delimiter: Literal["/"] | None
    total: int
    limit: int
    offset: int
    has_more: bool
    objects: list[ObjectInfo]
    common_prefixes: list[str]
    """Each ending in `/`."""
    execution_prefixes: list[ExecutionPrefix]
    """Filled only with `include_execution_info=true`."""
    next_cursor: str | None = None
    """Opaque token for the page after this one (pass it as `cursor`); null on the last page."""
