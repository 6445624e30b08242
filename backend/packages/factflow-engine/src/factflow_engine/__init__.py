"""Pipeline YAML, adapter registry and the runtime that runs executions."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
