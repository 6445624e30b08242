"""Queue, storage and database providers."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
