"""Config schemas (docs/reference/http-api.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from factflow_protocols import JSONObject

from ._common import Timestamp, ValidationReport

__all__ = (
    "ConfigCreateRequest",
    "ConfigListResponse",
    "ConfigRunRequest",
    "ConfigUpdateRequest",
    "ConfigValidateRequest",
    "PipelineConfigDetailResponse",
    "PipelineConfigResponse",
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


EXAMPLE_YAML = """\
version: "1.0"
name: example
routes:
  intake:
    inbound: {queue: example.in}
    adapters:
      - type: set_fields
        config: {values: {status: received}}
init_message:
  route: intake
  payload: {order_id: 1}
"""
"""A small runnable pipeline, shown as the request example in the OpenAPI document."""


class PipelineConfigResponse(BaseModel):
    """A stored config with its validation report against the current registry."""

    id: str
    """Config id (UUID)."""
    name: str
    """1–200 chars, not unique."""
    description: str | None
    """≤ 2000 chars."""
    source_type: Literal["file", "api", "imported"]
    """Where it came from."""
    source_path: str | None
    """Shipped file path, if any."""
    config_hash: str
    """`sha256:<hex>` of the YAML text."""
    version: int
    """1, +1 whenever the YAML text changes."""
    is_active: bool
    """False after C5."""
    created_at: Timestamp
    updated_at: Timestamp
    validation_report: ValidationReport
    """Recomputed on every read against the server's current adapter registry."""
    is_runnable: bool
    """`is_active` and no validation errors."""


class PipelineConfigDetailResponse(PipelineConfigResponse):
    """C3/C4 answer: the config plus its YAML exactly as stored."""

    config_yaml: str
    """The YAML exactly as stored."""


class ConfigListResponse(BaseModel):
    """C2 page."""

    total: int
    limit: int
    offset: int
    has_more: bool
    configs: list[PipelineConfigResponse]


class ConfigCreateRequest(_Request):
    """C1 body."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"config_yaml": EXAMPLE_YAML, "name": "example", "description": "Tag orders."}]}
    )

    config_yaml: str
    """The pipeline YAML."""
    name: str | None = Field(default=None, min_length=1, max_length=200)
    """Absent → the YAML's top-level `name`; neither → 422."""
    description: str | None = Field(default=None, max_length=2000)
    """Absent → the YAML's `description`."""
    source_type: Literal["file", "api", "imported"] = "api"
    """Where the config comes from."""
    source_path: str | None = Field(default=None, max_length=1024)
    """Origin path, if any."""


class ConfigUpdateRequest(_Request):
    """C4 body."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"config_yaml": EXAMPLE_YAML, "expected_version": 1}]})

    config_yaml: str
    """The new YAML; the version goes up only when the text differs."""
    name: str | None = Field(default=None, min_length=1, max_length=200)
    """Absent keeps the name."""
    description: str | None = Field(default=None, max_length=2000)
    """Absent keeps, `null` clears."""
    expected_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    """Optional optimistic lock (409 `version_conflict`)."""


class ConfigValidateRequest(_Request):
    """C6 body."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"config_yaml": EXAMPLE_YAML}]})

    config_yaml: str
    """The YAML to validate; nothing is stored."""


class ConfigRunRequest(_Request):
    """C7 body (optional)."""

    init_payload_overrides: JSONObject | None = None
    """Deep-merged into `init_message.payload`."""
    metadata: JSONObject | None = None
    """Stored on the row; ≤ 64 KiB serialized."""
    lineage_retention_days: float | None = Field(default=None, gt=0, le=36500)
    """Keep this execution's lineage rows this many days after it finished (null: the server setting)."""
