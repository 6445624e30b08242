"""Response and request schemas of the HTTP API, named as in api.md."""

from __future__ import annotations
