"""The FastAPI server and its lifecycle."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
