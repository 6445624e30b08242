"""`ExecutionService`: start, read, stop and inspect executions."""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import ValidationError

from factflow_foundation import FactflowError, new_id, utc_now
from factflow_lineage import LineageRecorder, LineageRepository, PipelineLineageEntry, RouteMessageCounts
from factflow_protocols import ErrorInfo, ExecutionStatusChanged, JSONObject

from ._calculator import StatsCalculator
from ._callbacks import seal_route_counts
from ._config_service import PipelineConfigService
from ._dag import build_dag
from ._db import Page
from ._execution_repository import PipelineExecutionRepository, SortOrder
from ._hub import ExecutionEventHub
from ._launcher import ExecutionLauncher
from ._merge import deep_merge
from ._models import PipelineExecution
from ._pause_repository import RoutePauseRepository
from ._ports import ExecutionManager, ReplayCoordinator
from ._route_workers import RouteWorkerLookup
from ._snapshot import ENGINE_VERSION, build_snapshot
from ._stats import LiveRouteState, build_route_statuses, route_counts_from_json, route_counts_to_json
from ._stored_snapshot import StoredSnapshot
from ._types import FINAL_STATUSES, ConfigSourceType, ExecutionStatus
from .errors import InvalidStatusTransitionError, ReplayUnavailableError
from .views import DAGResponse, ExecutionStats, MessageCounts, RouteStatus, StageCounts

__all__ = ("ExecutionLineagePage", "ExecutionService", "RequestedStatus", "StatusChangeResult")

logger = logging.getLogger(__name__)

RequestedStatus = Literal["cancelled", "failed", "completed"]
"""Statuses a user or admin may ask for (`set_execution_status`)."""

_REQUESTABLE: Final = frozenset({"cancelled", "failed", "completed"})
_RACE_ATTEMPTS: Final = 3


@dataclass(frozen=True, slots=True)
class StatusChangeResult:
    """The HTTP API `StatusChangeResponse`, plus whether the change is still under way (HTTP 202)."""

    success: bool
    execution_id: str
    previous_status: ExecutionStatus
    current_status: str
    """A stored status, or `cancelling` while a live execution drains."""
    message: str
    accepted: bool = False
    """True for a graceful cancel still in progress (answer 202); False when applied (200)."""

    def to_api(self) -> JSONObject:
        return {
            "success": self.success,
            "execution_id": self.execution_id,
            "previous_status": self.previous_status,
            "current_status": self.current_status,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class ExecutionLineagePage:
    """One page of an execution's lineage rows (`list_execution_lineage`)."""

    execution_id: str
    entries: tuple[PipelineLineageEntry, ...]
    total: int
    limit: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.entries) < self.total

    def to_api(self) -> JSONObject:
        return {
            "execution_id": self.execution_id,
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "has_more": self.has_more,
            "entries": [entry.to_api_dict() for entry in self.entries],
        }


class ExecutionService:
    """Executions: create (run gate, snapshot, start), read, cancel, admin status, stats, DAG, routes.

    Args:
        configs: Config service (run gate against the live registry).
        executions: Execution rows.
        manager: The process's `OrchestratorManager` (live state, cancel).
        launcher: Starts executions (`ExecutionLauncher`, shared with replay and recovery).
        hub: The event hub (also the manager's event sink).
        lineage: Lineage queries (stats and route counts).
        recorder: The lineage recorder, flushed before stats freeze.
        pauses: Pause flags (route `paused`); without it, only live flags are shown.
        replay_coordinator: Handles `replay()`; replay is unavailable without one.
        route_workers: Which workers run each route (the server's worker monitor); without it the
            routes view claims no workers and no wait.
        engine_version: Recorded in snapshots.

    Build the whole graph with `ExecutionServices.build(...)` rather than by hand.
    """

    def __init__(
        self,
        *,
        configs: PipelineConfigService,
        executions: PipelineExecutionRepository,
        manager: ExecutionManager,
        launcher: ExecutionLauncher,
        hub: ExecutionEventHub,
        lineage: LineageRepository,
        stats: StatsCalculator | None = None,
        recorder: LineageRecorder | None = None,
        pauses: RoutePauseRepository | None = None,
        replay_coordinator: ReplayCoordinator | None = None,
        route_workers: RouteWorkerLookup | None = None,
        engine_version: str = ENGINE_VERSION,
    ) -> None:
        self.configs = configs
        self.executions = executions
        self.manager = manager
        self.launcher = launcher
        self.hub = hub
        self.lineage_repository = lineage
        self.recorder = recorder
        self.pauses = pauses
        self.replay_coordinator = replay_coordinator
        self.route_workers = route_workers
        """Fills `workers` and `waiting_for_worker` of the routes view (the server's worker monitor)."""
        self.engine_version = engine_version
        self.stats_calculator = stats or StatsCalculator(lineage)

    # ------------------------------------------------------------------ create

    async def create(
        self,
        config_id: str,
        *,
        source: ConfigSourceType | str = ConfigSourceType.API,
        tag: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        init_payload_overrides: Mapping[str, Any] | None = None,
        skip_init: bool = False,
        lineage_retention_days: float | None = None,
    ) -> PipelineExecution:
        """Start an execution of a stored config (`run_config`, `create_execution`, docs/concepts/executions.md).

        `lineage_retention_days` overrides the server's lineage retention for this execution
        (docs/guides/retention.md).

        Steps: load the active config; run gate against the live registry; reserve a slot;
        check the tag; build the snapshot and the merged init payload; insert the row
        (`running`); start the orchestrator. Returns once the init message is published.

        Raises:
            ConfigNotFoundError: No such config.
            ConfigInactiveError: The config was deactivated.
            ConfigValidationError: The run gate found errors.
            TooManyConcurrentExecutionsError: No slot is free (no row was created).
            TagConflictError: Another execution has the tag (no row was created).
            ServiceUnavailableError: The start failed (`orchestrator_unavailable` or
                `queue_unavailable`, `context.execution_id`); the row is already `failed`
                with `start_failed`.
        """
        config, parsed = await self.configs.run_gate(config_id)
        snapshot = build_snapshot(config, parsed, engine_version=self.engine_version)
        init = parsed.init_message
        init_payload = deep_merge(init.payload, init_payload_overrides) if init is not None else None
        publishes_init = init is not None and not skip_init
        return await self.launcher.insert_and_launch(
            PipelineExecution(
                execution_id=new_id(),
                config_id=config.config_id,
                config_name=config.name,
                config_version=config.version,
                status="running",
                source=ConfigSourceType(str(source)),
                started_at=utc_now(),
                stored_snapshot=StoredSnapshot(snapshot),
                tag=tag,
                root_correlation_id=new_id() if publishes_init else None,
                init_payload=init_payload,
                metadata=dict(metadata or {}),
            ),
            skip_init=skip_init,
            lineage_retention_days=lineage_retention_days,
        )

    # ------------------------------------------------------------------ reads

    async def get(self, ref: str) -> PipelineExecution:
        """The execution with this id or tag.

        Raises:
            ExecutionNotFoundError: Nothing matches.
        """
        return await self.executions.resolve(ref)

    async def detail(self, ref: str) -> JSONObject:
        """The docs/reference/http-api-endpoints.md ExecutionDetailResponse: live counters and routes while running."""
        # The pause flags do not depend on the execution: read them while it is looked up.
        paused = asyncio.create_task(self._paused_flags(), name="execution-detail:pause-flags")
        try:
            execution = await self.get(ref)
        except BaseException:
            paused.cancel()
            await asyncio.wait([paused])  # its end, without taking its cancellation for ours
            if not paused.cancelled():
                paused.exception()  # it ended on its own first; its outcome no longer matters
            raise
        routes = await self._routes_of(execution, paused=await paused)
        return execution.to_api_detail(routes=routes, message_counts=self._live_counts(execution))

    async def list(
        self,
        *,
        status: ExecutionStatus | Collection[ExecutionStatus] | None = None,
        config_id: str | None = None,
        parent_execution_id: str | None = None,
        tag: str | None = None,
        source: ConfigSourceType | str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        sort_order: SortOrder = "desc",
        limit: int = 100,
        offset: int = 0,
        after: tuple[datetime, str] | None = None,
    ) -> Page[PipelineExecution]:
        """Executions matching every filter (`list_executions`); `parent_execution_id` is a ref.

        `after` continues a keyset page after that `(started_at, id)`.

        Raises:
            ExecutionNotFoundError: `parent_execution_id` names no execution.
        """
        parent_id = None
        if parent_execution_id is not None:
            parent_id = (await self.get(parent_execution_id)).execution_id
        return await self.executions.list(
            status=status,
            config_id=config_id,
            parent_execution_id=parent_id,
            tag=tag,
            source=source,
            started_after=started_after,
            started_before=started_before,
            sort_order=sort_order,
            limit=limit,
            offset=offset,
            after=after,
        )

    async def replays(self, ref: str, limit: int = 100, offset: int = 0) -> Page[PipelineExecution]:
        """Executions whose parent is `ref` (`list_execution_replays`), newest first."""
        parent = await self.get(ref)
        return await self.executions.children(parent.execution_id, limit=limit, offset=offset)

    def _live_counts(self, execution: PipelineExecution) -> JSONObject | None:
        if execution.status != "running":
            return None
        counts = self.manager.message_counts(execution.execution_id)
        return counts.as_dict() if counts is not None else None

    async def stats(self, ref: str) -> ExecutionStats:
        """Counters and per-adapter stats (`get_execution_stats`): frozen once stopped, live while running."""
        execution = await self.get(ref)
        if execution.stats is not None and execution.is_stopped:
            try:
                frozen = ExecutionStats.model_validate(execution.stats)
                return frozen.model_copy(update={"status": execution.status})
            except ValueError:  # pydantic's ValidationError included
                logger.warning("Frozen stats of execution %s are unreadable; recomputing", execution.execution_id)
        counts = self._live_counts(execution)
        if counts is None:
            counts = MessageCounts.normalize(
                execution.message_counts, tolerated_failures=execution.tolerated_failures
            ).model_dump()
        stats = await self.stats_calculator.compute(execution, message_counts=counts)
        if execution.is_final and self._lineage_written(execution.execution_id):
            # Stopped while its lineage was still being written: freeze now that it is complete.
            await self.executions.update_fields(
                execution.execution_id, {"stats": stats.model_dump(mode="json")}, when_status=(execution.status,)
            )
        return stats

    def _lineage_written(self, execution_id: str) -> bool:
        """Whether this process holds none of the execution's lineage unwritten (counts may freeze)."""
        return self.recorder is None or self.recorder.is_written(execution_id)

    async def dag(self, ref: str) -> DAGResponse:
        """The route graph from the execution's snapshot (`get_execution_dag`)."""
        execution = await self.get(ref)
        return build_dag(execution.execution_id, execution.config_snapshot)

    async def routes(self, ref: str) -> builtins.list[RouteStatus]:
        """RouteStatus of every route in declaration order (`list_execution_routes`)."""
        return await self._routes_of(await self.get(ref))

    async def _paused_flags(self) -> dict[str, bool]:
        """Global pause flags by route id (none without a pause repository)."""
        if self.pauses is None:
            return {}
        return {route_id: pause.paused for route_id, pause in (await self.pauses.load_paused()).items()}

    async def _routes_of(
        self, execution: PipelineExecution, *, paused: dict[str, bool] | None = None
    ) -> builtins.list[RouteStatus]:
        """RouteStatus of the execution's routes; `paused` are the pause flags when the caller read them already."""
        if execution.stored_snapshot.problem is not None:
            return []  # an unreadable stored snapshot names no routes; the execution still reads
        live: dict[str, LiveRouteState] | None = None
        if execution.status == "running" and self.manager.is_live(execution.execution_id):
            live = {state.route_id: state for state in self.manager.route_statuses(execution.execution_id)}
        if paused is None:
            paused = await self._paused_flags()
        counts = await self._route_counts(execution)
        workers = await self.route_workers.route_workers(execution.execution_id) if self.route_workers else None
        return build_route_statuses(execution, live=live, paused=paused, route_counts=counts, workers=workers)

    async def _route_counts(self, execution: PipelineExecution) -> dict[str, RouteMessageCounts]:
        """Per-route message counts: frozen with a final execution, else read from the lineage counters.

        The database keeps them per route as rows are written (never an aggregation over the
        execution's rows). A final execution stopped before the counts were frozen gets them
        stored by the first read after its lineage is all written, and its counters sealed.
        """
        if execution.is_final and execution.route_counts is not None:
            try:
                return route_counts_from_json(execution.route_counts)
            except (KeyError, TypeError, ValueError, AttributeError):
                logger.warning("Route counts of execution %s are unreadable; recomputing", execution.execution_id)
        if not (execution.is_final and self._lineage_written(execution.execution_id)):
            return await self.lineage_repository.route_counters(execution.execution_id)
        # Frozen now, and sealed with it: the counts stored are the counters' last values.
        counts = await self.lineage_repository.seal_route_counters(execution.execution_id)
        await self.executions.update_fields(
            execution.execution_id, {"route_counts": route_counts_to_json(counts)}, when_status=(execution.status,)
        )
        return counts

    async def lineage(
        self, ref: str, limit: int = 1000, offset: int = 0, *, after: tuple[datetime, str] | None = None
    ) -> ExecutionLineagePage:
        """One page of the execution's lineage rows by `started_at`, then `id` (`list_execution_lineage`).

        `after` continues a keyset page after that `(started_at, id)`.
        """
        execution = await self.get(ref)
        rows, total = await self.lineage_repository.execution_rows(
            execution.execution_id, limit=limit, offset=offset, after=after
        )
        return ExecutionLineagePage(
            execution_id=execution.execution_id, entries=tuple(rows), total=total, limit=limit, offset=offset
        )

    async def event_snapshot(self, execution: PipelineExecution) -> JSONObject:
        """`execution.snapshot` data: `execution`, `message_counts`, `stage_counts`, `routes`."""
        counts = self._live_counts(execution)
        stage_counts = self._frozen_stage_counts(execution)
        if stage_counts is None:
            stage_counts = (await self.lineage_repository.stage_counts(execution.execution_id)).to_api_dict()
        routes = await self._routes_of(execution)
        return {
            "execution": execution.to_api(),
            "message_counts": MessageCounts.normalize(
                counts or execution.message_counts, tolerated_failures=execution.tolerated_failures
            ).model_dump(),
            "stage_counts": stage_counts,
            "routes": [route.snapshot_item() for route in routes],
        }

    @staticmethod
    def _frozen_stage_counts(execution: PipelineExecution) -> dict[str, int] | None:
        """`stage_counts` of the stats frozen with a final execution, or `None` (aggregate lineage then)."""
        if not execution.is_final or not isinstance(execution.stats, dict):
            return None
        try:
            return StageCounts.model_validate(execution.stats.get("stage_counts")).model_dump()
        except ValidationError:
            return None

    # ------------------------------------------------------------------ replay

    async def replay(self, ref: str, request: Any) -> PipelineExecution:
        """Replay stored stage output of `ref` into a new execution (delegated to the coordinator).

        Raises:
            ReplayUnavailableError: No coordinator is installed.
        """
        if self.replay_coordinator is None:
            raise ReplayUnavailableError("Replay is not available in this process.")
        return await self.replay_coordinator.replay(ref, request)

    # ------------------------------------------------------------------ status changes

    async def cancel(self, ref: str, reason: str | None = None) -> StatusChangeResult:
        """Graceful cancel (`cancel_execution`); same rules as `update_status(ref, "cancelled")`."""
        return await self.update_status(ref, "cancelled", reason=reason)

    async def update_status(
        self,
        ref: str,
        status: RequestedStatus | str,
        reason: str | None = None,
        error_info: Mapping[str, Any] | None = None,
    ) -> StatusChangeResult:
        """Apply the `set_execution_status` transition table.

        | Current | Requested | Result |
        |---|---|---|
        | `running`, live | `cancelled` | graceful cancel, `cancelling` (accepted, 202) |
        | `running`, live | `failed`, `completed` | `InvalidStatusTransitionError` |
        | `running`, not live (stale) | any | applied now, `error_info.code = admin_update` |
        | `interrupted` | any | applied now |
        | `cancelled` | `cancelled` | no-op |
        | `completed`/`failed`/`cancelled` | other | `InvalidStatusTransitionError` |

        Raises:
            ExecutionNotFoundError: Nothing matches `ref`.
            InvalidStatusTransitionError: The change is not allowed.
        """
        if status not in _REQUESTABLE:
            raise InvalidStatusTransitionError(
                f"Status {status!r} cannot be requested; use cancelled, failed or completed."
            )
        requested: ExecutionStatus = status  # type: ignore[assignment]  # checked against _REQUESTABLE above
        execution = await self.get(ref)
        for _ in range(_RACE_ATTEMPTS):
            result = await self._try_change(execution, requested, reason, error_info)
            if result is not None:
                return result
            execution = await self.executions.get(execution.execution_id)  # lost a race: decide again
        raise FactflowError(
            f"The status of execution {execution.execution_id} kept changing; try again.", code="conflict"
        )

    async def _try_change(
        self,
        execution: PipelineExecution,
        requested: ExecutionStatus,
        reason: str | None,
        error_info: Mapping[str, Any] | None,
    ) -> StatusChangeResult | None:
        execution_id, current = execution.execution_id, execution.status
        if current in FINAL_STATUSES:
            if current == "cancelled" and requested == "cancelled":
                return StatusChangeResult(True, execution_id, current, current, "The execution is already cancelled.")
            raise InvalidStatusTransitionError(
                f"Execution {execution_id} is already {current}; it cannot become {requested}.",
                context={"execution_id": execution_id, "current_status": current, "requested_status": requested},
            )
        if current == "running" and self.manager.is_live(execution_id):
            if requested != "cancelled":
                raise InvalidStatusTransitionError(
                    f"Execution {execution_id} is running; only `cancelled` can be requested while it runs.",
                    context={"execution_id": execution_id, "current_status": current, "requested_status": requested},
                )
            await self.executions.request_cancel(execution_id)
            if not self.manager.cancel(execution_id):
                if not self.manager.is_live(execution_id):
                    return None  # it stopped meanwhile: decide again on the stored status
                return StatusChangeResult(
                    True, execution_id, current, "cancelling", "The execution is already stopping.", True
                )
            self.hub.emit(execution_id, ExecutionStatusChanged("cancelling", current))
            logger.info("Cancelling execution %s%s", execution_id, f" ({reason})" if reason else "")
            return StatusChangeResult(
                True, execution_id, current, "cancelling", "Cancellation accepted; the execution is stopping.", True
            )
        # A stale `running` row (no orchestrator in this process) or an `interrupted` one: apply now.
        stored_error = self._admin_error(execution, requested, reason, error_info)
        now = utc_now()
        counts = MessageCounts.normalize(
            execution.message_counts, tolerated_failures=execution.tolerated_failures
        ).model_dump()
        stats = await self._final_stats(execution, counts, requested, now)
        route_counts = await self._final_route_counts(execution)
        if not await self.executions.finish(
            execution_id,
            requested,
            from_statuses=(current,),
            completed_at=now,
            error_info=stored_error,
            message_counts=counts,
            stats=stats,
            route_counts=route_counts,
        ):
            return None
        if requested == "cancelled":
            await self.executions.update_fields(execution_id, {"cancel_requested": True})
        if route_counts is not None:
            await seal_route_counts(
                self.stats_calculator, self.executions, execution_id, status=requested, frozen=route_counts
            )
        self.hub.finish(execution_id, status=requested, previous_status=current, error_info=stored_error)
        return StatusChangeResult(True, execution_id, current, requested, f"Execution {execution_id} is {requested}.")

    @staticmethod
    def _admin_error(
        execution: PipelineExecution,
        requested: ExecutionStatus,
        reason: str | None,
        error_info: Mapping[str, Any] | None,
    ) -> ErrorInfo | None:
        if execution.status == "interrupted" and requested == "cancelled" and error_info is None:
            return None  # a user cancelling an interrupted execution: no error
        return ErrorInfo(
            "admin_update",
            reason or f"Status set to {requested} by an administrator (was {execution.status}).",
            dict(error_info or {}),
        )

    async def _final_route_counts(self, execution: PipelineExecution) -> JSONObject | None:
        try:
            return await self.stats_calculator.route_counts(execution)
        except FactflowError as exc:
            logger.warning("Route counts of execution %s could not be frozen: %s", execution.execution_id, exc)
            return None

    async def _final_stats(
        self, execution: PipelineExecution, counts: JSONObject, status: ExecutionStatus, now: datetime
    ) -> JSONObject | None:
        try:
            stats = await self.stats_calculator.compute(
                execution, message_counts=counts, status=status, completed_at=now
            )
        except FactflowError as exc:
            logger.warning("Stats of execution %s could not be frozen: %s", execution.execution_id, exc)
            return None
        return stats.model_dump(mode="json")
