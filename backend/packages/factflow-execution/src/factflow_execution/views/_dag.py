"""`DAGResponse`: the route graph of an execution's snapshot."""

from __future__ import annotations

from typing import Any

from ._base import View

__all__ = ("DAGAdapter", "DAGEdge", "DAGNode", "DAGOutbound", "DAGResponse")


class DAGAdapter(View):
    """One adapter entry of a DAG node."""

    index: int
    type: str
    stage: str
    condition: dict[str, Any] | None
    """The condition as the YAML wrote it."""


class DAGOutbound(View):
    """One outbound queue of a DAG node."""

    queue: str
    """Logical (normalised) name."""
    condition: dict[str, Any] | None


class DAGNode(View):
    """One route of the snapshot."""

    route_id: str
    name: str
    description: str | None
    inbound_queue: str
    """Logical (normalised) name."""
    adapters: list[DAGAdapter]
    outbound: list[DAGOutbound]
    """Every outbound entry, consumed or not."""
    is_init_route: bool
    is_terminal: bool
    """True when the route has no outbound queues."""


class DAGEdge(View):
    """A queue linking two routes."""

    from_route: str
    to_route: str
    queue: str
    condition: dict[str, Any] | None


class DAGResponse(View):
    """E8 answer, built from the snapshot."""

    execution_id: str
    init_route: str | None
    """Route receiving the init message; `None` without one."""
    init_queue: str | None
    """Its inbound queue; `None` without an init message."""
    nodes: list[DAGNode]
    """In declaration order."""
    edges: list[DAGEdge]
    """In declaration order of the producing route, then of its outbound entries."""
