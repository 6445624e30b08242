"""Names for the JSON objects that cross layers, so a signature says what a dict holds."""

from __future__ import annotations

from typing import Any, TypeAlias

__all__ = ("JSONObject",)

JSONObject: TypeAlias = dict[str, Any]
"""A JSON object whose fields are not fixed here: a message's payload or metadata, an adapter's
config, an event's body, a stored snapshot. Any JSON value per key; the code that knows the shape
reads it (typed models exist where the shape is fixed, e.g. `EnvelopeControl`, `ErrorInfo`)."""
