"""General-purpose built-in adapters."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
