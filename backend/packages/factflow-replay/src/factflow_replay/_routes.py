"""Route and queue resolution for replays, always from frozen snapshots (docs/concepts/replay.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from factflow_engine.conditions import evaluate_condition
from factflow_engine.config import ConditionConfig, ConfigSnapshot, PipelineGlobalConfig
from factflow_foundation import ExecutionPathResolver

from .errors import AmbiguousStageError, NothingToReplayError, ReplayRouteNotFoundError, ReplayStageNotFoundError

__all__ = ("ReplayMode", "ReplayTarget", "ResolvedRoute", "RouteResolver")

ReplayMode = Literal["same_pipeline", "cross_pipeline"]


@dataclass(frozen=True, slots=True)
class ReplayTarget:
    """One queue replayed messages are published to."""

    queue: str
    """Logical (normalised) queue name, from the target snapshot."""
    route_id: str | None
    """The target snapshot's route consuming `queue`; None when no route consumes it."""
    condition: ConditionConfig | None = None
    """Outbound condition a message must pass (last-stage replays); None = every message."""

    def accepts(self, payload: Mapping[str, Any]) -> bool:
        """Whether a message with `payload` goes to this queue."""
        return self.condition is None or evaluate_condition(self.condition, dict(payload))


@dataclass(frozen=True, slots=True)
class ResolvedRoute:
    """Where a replay reads and where its messages enter (HTTP API ReplayInfo's routing fields)."""

    mode: ReplayMode
    """`same_pipeline` (no `to_route`) or `cross_pipeline`."""
    source_execution_id: str
    """Execution whose stored outputs are read."""
    source_route: str
    """Route R of the source snapshot holding `source_stage`."""
    source_stage: str
    """The stage whose outputs are replayed."""
    to_route: str
    """The route the messages enter (for a last-stage replay: the consumer of the first outbound queue,
    or R itself when nobody consumes it)."""
    to_queue: str
    """Logical queue the messages enter (the first outbound queue for a last-stage replay)."""
    start_at_adapter: int
    """Adapter index the entered route starts at."""
    targets: tuple[ReplayTarget, ...]
    """Every queue a message may go to; one entry unless the replay starts after R's last stage."""

    @property
    def source_prefix(self) -> str:
        """`executions/<source>/<R>/<stage>/`: the storage prefix the outputs are listed under."""
        return ExecutionPathResolver.stage_prefix(self.source_execution_id, self.source_route, self.source_stage)

    @property
    def entry_routes(self) -> tuple[str, ...]:
        """The target routes messages can enter, without duplicates, in target order."""
        return tuple(dict.fromkeys(target.route_id for target in self.targets if target.route_id is not None))

    def targets_for(self, payload: Mapping[str, Any]) -> list[ReplayTarget]:
        """The targets a message with `payload` goes to (outbound conditions applied)."""
        return [target for target in self.targets if target.accepts(payload)]


class RouteResolver:
    """Resolves replay routes and queues against snapshots, never against live configs.

    The source snapshot (the parent execution's) names the route R holding the stage; the
    target snapshot (the parent's, or a fresh one of `config_id`) names the entry point and
    every queue. Two configs may use one route name with different queues: each lookup goes
    to the snapshot it belongs to.

    Args:
        source_snapshot: The parent execution's snapshot.
        target_snapshot: The snapshot the new execution runs; the source's when omitted.
    """

    def __init__(self, source_snapshot: ConfigSnapshot, target_snapshot: ConfigSnapshot | None = None) -> None:
        self.source: PipelineGlobalConfig = source_snapshot.config
        self.target: PipelineGlobalConfig = self.source if target_snapshot is None else target_snapshot.config

    @staticmethod
    def _stage_index(config: PipelineGlobalConfig, route_id: str, stage: str) -> int | None:
        for index, adapter in enumerate(config.routes[route_id].adapters):
            if adapter.stage_name == stage:
                return index
        return None

    def source_route(self, from_stage: str, from_route: str | None = None) -> str:
        """Step 3 of E12: the source route R holding `from_stage`.

        Raises:
            ReplayRouteNotFoundError: `from_route` is not a route of the source snapshot.
            ReplayStageNotFoundError: no source route (or not `from_route`) has the stage.
            AmbiguousStageError: several source routes have it and `from_route` is not given.
        """
        if from_route is not None:
            if from_route not in self.source.routes:
                raise ReplayRouteNotFoundError(
                    f"Route {from_route!r} is not in the source execution's snapshot.",
                    context={"route_id": from_route, "routes": sorted(self.source.routes)},
                )
            if self._stage_index(self.source, from_route, from_stage) is None:
                raise ReplayStageNotFoundError(
                    f"Route {from_route!r} of the source execution has no stage {from_stage!r}.",
                    context={"route_id": from_route, "stage": from_stage},
                )
            return from_route
        candidates = [
            route_id
            for route_id in self.source.routes
            if self._stage_index(self.source, route_id, from_stage) is not None
        ]
        if not candidates:
            raise ReplayStageNotFoundError(
                f"No route of the source execution has a stage {from_stage!r}.", context={"stage": from_stage}
            )
        if len(candidates) > 1:
            raise AmbiguousStageError(
                f"Stage {from_stage!r} exists in several routes ({', '.join(candidates)}); give `from_route`.",
                candidates=candidates,
                context={"stage": from_stage},
            )
        return candidates[0]

    def entry_point(
        self, *, source_execution_id: str, source_route: str, from_stage: str, to_route: str | None = None
    ) -> ResolvedRoute:
        """Step 5 of E12: where the messages enter, from the target snapshot.

        Raises:
            ReplayRouteNotFoundError: `to_route` (cross-pipeline) or R (same-pipeline) is not in the target.
            ReplayStageNotFoundError: the target's R has no stage `from_stage` (same-pipeline).
            NothingToReplayError: `from_stage` is R's last stage and R has no outbound queue.
        """
        target = self.target
        consumed = target.consumed_queues()
        if to_route is not None:
            if to_route not in target.routes:
                raise ReplayRouteNotFoundError(
                    f"Route {to_route!r} is not in the target snapshot.",
                    context={"route_id": to_route, "routes": sorted(target.routes)},
                )
            queue = target.routes[to_route].inbound.queue_name
            return ResolvedRoute(
                mode="cross_pipeline",
                source_execution_id=source_execution_id,
                source_route=source_route,
                source_stage=from_stage,
                to_route=to_route,
                to_queue=queue,
                start_at_adapter=0,
                targets=(ReplayTarget(queue=queue, route_id=to_route),),
            )
        if source_route not in target.routes:
            raise ReplayRouteNotFoundError(
                f"Route {source_route!r} is not in the target snapshot.",
                context={"route_id": source_route, "routes": sorted(target.routes)},
            )
        index = self._stage_index(target, source_route, from_stage)
        if index is None:
            raise ReplayStageNotFoundError(
                f"Route {source_route!r} of the target snapshot has no stage {from_stage!r}.",
                context={"route_id": source_route, "stage": from_stage},
            )
        route = target.routes[source_route]
        if index < len(route.adapters) - 1:
            queue = route.inbound.queue_name
            return ResolvedRoute(
                mode="same_pipeline",
                source_execution_id=source_execution_id,
                source_route=source_route,
                source_stage=from_stage,
                to_route=source_route,
                to_queue=queue,
                start_at_adapter=index + 1,
                targets=(ReplayTarget(queue=queue, route_id=source_route),),
            )
        if not route.outbound:
            raise NothingToReplayError(
                f"Stage {from_stage!r} is the last of route {source_route!r}, which has no outbound queue.",
                context={"route_id": source_route, "stage": from_stage},
            )
        targets = tuple(
            ReplayTarget(queue=entry.queue_name, route_id=consumed.get(entry.queue_name), condition=entry.condition)
            for entry in route.outbound
        )
        first = targets[0]
        return ResolvedRoute(
            mode="same_pipeline",
            source_execution_id=source_execution_id,
            source_route=source_route,
            source_stage=from_stage,
            to_route=first.route_id or source_route,
            to_queue=first.queue,
            start_at_adapter=0,
            targets=targets,
        )

    def resolve(
        self,
        *,
        source_execution_id: str,
        from_stage: str,
        from_route: str | None = None,
        to_route: str | None = None,
    ) -> ResolvedRoute:
        """Steps 3 and 5 together (no storage listing in between); see both."""
        route = self.source_route(from_stage, from_route)
        return self.entry_point(
            source_execution_id=source_execution_id, source_route=route, from_stage=from_stage, to_route=to_route
        )
