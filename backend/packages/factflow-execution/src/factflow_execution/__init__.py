"""Configs, executions, waiting and event streams."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
