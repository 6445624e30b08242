"""Adapter schemas (docs/reference/http-api.md): `AdapterInfo` and the A1 list."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from factflow_protocols import JSONObject

__all__ = ("AdapterInfo", "AdapterListResponse", "AdapterLoadError")


class AdapterLoadError(BaseModel):
    """Why an adapter type could not be loaded."""

    model_config = ConfigDict(extra="forbid")

    error_type: str
    """Exception class or problem kind."""
    message: str
    """What went wrong, naming the entry point."""


class AdapterInfo(BaseModel):
    """One adapter type the server discovered."""

    model_config = ConfigDict(extra="forbid")

    type: str
    """Entry-point name (the YAML `type`)."""
    class_path: str
    """`module:Class`."""
    package: str | None
    """Distribution name."""
    package_version: str | None
    """Distribution version."""
    description: str | None
    """First line of the class docstring."""
    config_schema: JSONObject | None
    """JSON Schema of the config model; null when the adapter takes no config."""
    load_error: AdapterLoadError | None
    """Set when the entry point could not be loaded (configs using it fail with E107)."""


class AdapterListResponse(BaseModel):
    """A1 answer."""

    model_config = ConfigDict(extra="forbid")

    adapters: list[AdapterInfo]
    """Every discovered type, sorted by `type`."""
