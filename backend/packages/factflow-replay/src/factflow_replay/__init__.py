"""Replay of stored stage outputs and start-up recovery."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
