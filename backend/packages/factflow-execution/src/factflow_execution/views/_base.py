"""The base of every API view."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ("View",)


class View(BaseModel):
    """An immutable answer body of docs/reference/http-api.md, serialised by the server as is.

    Every field is present in the JSON (nullable ones as `null`) and required, with no default,
    so builders state every value and the OpenAPI document lists every field as required.
    """

    model_config = ConfigDict(frozen=True)
