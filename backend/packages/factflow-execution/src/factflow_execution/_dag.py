"""The route graph of an execution, built from its frozen snapshot only (`get_execution_dag`)."""

from __future__ import annotations

from typing import Any

from factflow_engine.config import ConditionConfig, ConfigSnapshot

from .views import DAGAdapter, DAGEdge, DAGNode, DAGOutbound, DAGResponse

__all__ = ("build_dag", "condition_as_written")


def condition_as_written(condition: ConditionConfig | None) -> dict[str, Any] | None:
    """The condition mapping as the YAML wrote it, from its snapshot form.

    The snapshot holds the parsed model with every field present (`all`/`any` as null on
    leaves, `value` null when omitted); those placeholders are dropped again. A leaf keeps
    `value` unless it is null on an `exists` test, where null means "omitted" (a null operand
    is not a valid `exists` value).
    """
    if condition is None:
        return None
    if condition.all_ is not None:
        return {"all": [condition_as_written(item) for item in condition.all_]}
    if condition.any_ is not None:
        return {"any": [condition_as_written(item) for item in condition.any_]}
    written: dict[str, Any] = {"field": condition.field, "operator": condition.operator}
    if "value" in condition.model_fields_set and not (condition.value is None and condition.operator == "exists"):
        written["value"] = condition.value
    return written


def build_dag(execution_id: str, snapshot: ConfigSnapshot) -> DAGResponse:
    """Build the DAG from an execution's snapshot (never the live config)."""
    routes = snapshot.config.routes
    consumers = snapshot.consumers()
    init_route = snapshot.init_route
    init_queue = routes[init_route].inbound.queue_name if init_route is not None and init_route in routes else None

    nodes: list[DAGNode] = []
    edges: list[DAGEdge] = []
    for route_id, route in routes.items():
        targets = [(item.queue_name, condition_as_written(item.condition)) for item in route.outbound]
        outbound = [DAGOutbound(queue=queue, condition=condition) for queue, condition in targets]
        adapters = [
            DAGAdapter(
                index=index,
                type=adapter.type,
                stage=adapter.stage_name,
                condition=condition_as_written(adapter.condition),
            )
            for index, adapter in enumerate(route.adapters)
        ]
        nodes.append(
            DAGNode(
                route_id=route_id,
                name=route.name or route_id,
                description=route.description,
                inbound_queue=route.inbound.queue_name,
                adapters=adapters,
                outbound=outbound,
                is_init_route=route_id == init_route,
                is_terminal=not outbound,
            )
        )
        for queue, condition in targets:
            target = consumers.get(queue)
            if target is not None:
                edges.append(DAGEdge(from_route=route_id, to_route=target, queue=queue, condition=condition))
    return DAGResponse(
        execution_id=execution_id,
        init_route=init_route,
        init_queue=init_queue,
        nodes=nodes,
        edges=edges,
    )
