"""Lineage rows, the batched recorder and lineage queries."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
