"""The route graph: shared inbound queues (E202) and the topology warnings W501–W504."""

from __future__ import annotations

from collections.abc import Sequence

from ._fields import Collector
from ._routes import RouteFacts

__all__ = ("check_topology",)


def check_topology(
    routes: Sequence[RouteFacts],
    collector: Collector,
    *,
    init_route: str | None,
    init_known: bool,
    max_hops: int,
    all_routes_readable: bool = True,
) -> None:
    """Check the graph that the routes' queues form.

    Args:
        routes: Every route that could be read, in document order.
        collector: Receives the issues.
        init_route: The valid `init_message.route`, if any.
        init_known: False when `init_message` exists but is broken, which suppresses W501.
        max_hops: The effective `orchestrator.max_hops`, for the W504 message.
        all_routes_readable: False when some route is not a mapping: its queues are unknown, which
            suppresses W501 and W502.
    """
    consumers: dict[str, str] = {}
    for facts in routes:
        if facts.inbound_queue is None:
            continue
        owner = consumers.get(facts.inbound_queue)
        if owner is None:
            consumers[facts.inbound_queue] = facts.route_id
            continue
        collector.add(
            "E202",
            f"{facts.path}.inbound.queue",
            f"Routes '{owner}' and '{facts.route_id}' both consume '{facts.inbound_queue}'.",
            f"'{facts.inbound_queue}' is consumed by route '{owner}'; use another queue.",
        )

    # A route whose queues are unknown could be the missing producer or consumer: stay quiet.
    every_inbound_known = all_routes_readable and all(facts.inbound_queue is not None for facts in routes)
    every_outbound_known = all_routes_readable and all(facts.outbound_complete for facts in routes)
    if every_inbound_known:
        _unconsumed_outbound(routes, consumers, collector)
    if every_outbound_known and init_known:
        _unreachable_routes(routes, collector, init_route)
    _cycles(routes, consumers, collector, max_hops)


def _unconsumed_outbound(routes: Sequence[RouteFacts], consumers: dict[str, str], collector: Collector) -> None:
    for facts in routes:
        for queue, path in facts.outbound:
            if queue not in consumers:
                collector.add(
                    "W502",
                    path,
                    f"Route '{facts.route_id}' publishes to '{queue}', which no route consumes.",
                    f"Nothing consumes '{queue}'; its messages wait until cleanup.",
                )


def _unreachable_routes(routes: Sequence[RouteFacts], collector: Collector, init_route: str | None) -> None:
    published: dict[str, set[str]] = {}
    for facts in routes:
        for queue, _ in facts.outbound:
            published.setdefault(queue, set()).add(facts.route_id)
    for facts in routes:
        if facts.route_id == init_route or facts.inbound_queue is None:
            continue
        producers = published.get(facts.inbound_queue, set()) - {facts.route_id}
        if not producers:
            collector.add(
                "W501",
                facts.path,
                f"Route '{facts.route_id}' is not the init route and no other route publishes to "
                f"'{facts.inbound_queue}'.",
                f"'{facts.route_id}' receives nothing; add its queue to a producer's outbound "
                "(ignore if it is a replay target).",
            )


def _cycles(routes: Sequence[RouteFacts], consumers: dict[str, str], collector: Collector, max_hops: int) -> None:
    order = {facts.route_id: index for index, facts in enumerate(routes)}
    edges: dict[str, list[str]] = {facts.route_id: [] for facts in routes}
    for facts in routes:
        for queue, _ in facts.outbound:
            target = consumers.get(queue)
            if target is not None and target not in edges[facts.route_id]:
                edges[facts.route_id].append(target)
    paths = {facts.route_id: facts.path for facts in routes}
    for component in _strongly_connected(list(edges), edges):
        members = set(component)
        if len(component) == 1 and component[0] not in edges[component[0]]:
            continue
        first = min(component, key=order.__getitem__)
        loop = " → ".join([*_cycle_from(first, edges, members), first])
        collector.add(
            "W504",
            paths[first],
            f"Routes {loop} form a cycle.",
            f"{loop} loops; orchestrator.max_hops caps it at {max_hops}.",
        )


def _cycle_from(start: str, edges: dict[str, list[str]], members: set[str]) -> list[str]:
    """The shortest walk start → … back to start inside one component, without the final `start`."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in edges[node]:
                if target not in members:
                    continue
                if target == start:
                    walk = [node]
                    while walk[-1] != start:
                        walk.append(previous[walk[-1]])
                    return list(reversed(walk))
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return [start]


def _strongly_connected(nodes: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative so that long chains of routes cannot hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges[node]
            if child < len(targets):
                work.append((node, child + 1))
                target = targets[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components
