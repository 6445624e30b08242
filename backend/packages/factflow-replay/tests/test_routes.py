"""RouteResolver: routes and queues from snapshots only (runtime.md §7.1, api.md E12 steps 3 and 5)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from factflow_engine.config import ConfigSnapshot
from factflow_replay import (
    AmbiguousStageError,
    NothingToReplayError,
    ReplayRouteNotFoundError,
    ReplayStageNotFoundError,
    RouteResolver,
)

SOURCE = """
version: "1.0"
routes:
  main:
    inbound: {queue: /queue/main.in}
    adapters:
      - {type: passthrough, stage: a}
      - {type: passthrough, stage: b}
      - {type: passthrough, stage: c}
    outbound:
      - {queue: big, condition: {field: n, operator: gte, value: 3}}
      - {queue: small, condition: {field: n, operator: lt, value: 3}}
      - {queue: nowhere}
  big:
    inbound: {queue: big}
    adapters: [{type: passthrough, stage: shared}]
  small:
    inbound: {queue: small}
    adapters: [{type: passthrough, stage: shared}]
"""

# Same route names as SOURCE, other queues and stage order.
TARGET = """
version: "1.0"
routes:
  main:
    inbound: {queue: t.main}
    adapters:
      - {type: passthrough, stage: c}
      - {type: passthrough, stage: b}
  big:
    inbound: {queue: t.big}
    adapters: [{type: passthrough, stage: shared}]
"""

SOURCE_ID = "0190b000-0000-7000-8000-0000000000aa"

Snapshot = Callable[[str], ConfigSnapshot]


def test_same_pipeline_mid_chain_enters_r_at_the_next_adapter(snapshot_of: Snapshot) -> None:
    resolver = RouteResolver(snapshot_of(SOURCE))
    route = resolver.resolve(source_execution_id=SOURCE_ID, from_stage="b")
    assert route.mode == "same_pipeline"
    assert (route.source_route, route.to_route, route.to_queue) == ("main", "main", "main.in")
    assert route.start_at_adapter == 2
    assert route.source_prefix == f"executions/{SOURCE_ID}/main/b/"
    assert route.entry_routes == ("main",)


def test_last_stage_goes_to_the_outbound_queues_with_their_conditions(snapshot_of: Snapshot) -> None:
    route = RouteResolver(snapshot_of(SOURCE)).resolve(source_execution_id=SOURCE_ID, from_stage="c")
    assert route.start_at_adapter == 0
    assert (route.to_route, route.to_queue) == ("big", "big")
    assert [(target.queue, target.route_id) for target in route.targets] == [
        ("big", "big"),
        ("small", "small"),
        ("nowhere", None),
    ]
    assert [target.queue for target in route.targets_for({"n": 5})] == ["big", "nowhere"]
    assert [target.queue for target in route.targets_for({"n": 1})] == ["small", "nowhere"]
    assert route.entry_routes == ("big", "small")


def test_cross_pipeline_enters_to_route_at_adapter_zero(snapshot_of: Snapshot) -> None:
    route = RouteResolver(snapshot_of(SOURCE)).resolve(source_execution_id=SOURCE_ID, from_stage="a", to_route="small")
    assert route.mode == "cross_pipeline"
    assert (route.to_route, route.to_queue, route.start_at_adapter) == ("small", "small", 0)


def test_queues_come_from_the_target_snapshot_routes_from_the_source(snapshot_of: Snapshot) -> None:
    resolver = RouteResolver(snapshot_of(SOURCE), snapshot_of(TARGET))
    cross = resolver.resolve(source_execution_id=SOURCE_ID, from_stage="b", to_route="big")
    assert (cross.source_route, cross.to_queue) == ("main", "t.big")  # not SOURCE's `big`
    same = resolver.resolve(source_execution_id=SOURCE_ID, from_stage="c")
    # In the target, `c` is adapter 0 of `main`, so the messages enter `t.main` at adapter 1.
    assert (same.to_queue, same.start_at_adapter) == ("t.main", 1)
    assert same.source_prefix == f"executions/{SOURCE_ID}/main/c/"


def test_source_route_errors(snapshot_of: Snapshot) -> None:
    resolver = RouteResolver(snapshot_of(SOURCE))
    with pytest.raises(ReplayStageNotFoundError) as missing:
        resolver.source_route("nope")
    assert missing.value.code == "unknown_stage"
    with pytest.raises(AmbiguousStageError) as ambiguous:
        resolver.source_route("shared")
    assert ambiguous.value.code == "ambiguous_stage"
    assert ambiguous.value.context["candidates"] == ["big", "small"]
    assert resolver.source_route("shared", "small") == "small"
    with pytest.raises(ReplayRouteNotFoundError) as route:
        resolver.source_route("a", "ghost")
    assert route.value.code == "unknown_route"
    with pytest.raises(ReplayStageNotFoundError):
        resolver.source_route("a", "big")


def test_entry_point_errors(snapshot_of: Snapshot) -> None:
    resolver = RouteResolver(snapshot_of(SOURCE), snapshot_of(TARGET))
    with pytest.raises(ReplayRouteNotFoundError):
        resolver.resolve(source_execution_id=SOURCE_ID, from_stage="a", to_route="small")  # not in TARGET
    with pytest.raises(ReplayStageNotFoundError):
        resolver.resolve(source_execution_id=SOURCE_ID, from_stage="a")  # TARGET's main has no `a`
    with pytest.raises(ReplayRouteNotFoundError):
        resolver.resolve(source_execution_id=SOURCE_ID, from_stage="shared", from_route="small")  # no `small`
    with pytest.raises(NothingToReplayError) as nothing:
        RouteResolver(snapshot_of(SOURCE)).resolve(source_execution_id=SOURCE_ID, from_stage="shared", from_route="big")
    assert nothing.value.code == "nothing_to_replay"
