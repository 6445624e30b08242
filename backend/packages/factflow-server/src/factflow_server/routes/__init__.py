"""The HTTP routers: one module per contract section."""

from __future__ import annotations
