"""Which workers serve an execution's routes: the seam to the server's worker registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ("RouteWorkerLookup", "RouteWorkers")


@dataclass(frozen=True, slots=True)
class RouteWorkers:
    """Who serves the routes of one execution (docs/guides/scaling.md)."""

    by_route: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Route id → ids of the live workers running it now."""
    live_pools: frozenset[str] = frozenset()
    """Pools with at least one live (running or draining) worker."""


class RouteWorkerLookup(Protocol):
    """Worker membership as the routes view needs it; the server implements it over its worker registry."""

    async def route_workers(self, execution_id: str) -> RouteWorkers | None:
        """The workers of `execution_id`'s routes, or None when membership is unknown (registry unreachable)."""
        ...
