"""Response and request schemas of the HTTP API, named as in docs/reference/http-api.md."""

from __future__ import annotations
