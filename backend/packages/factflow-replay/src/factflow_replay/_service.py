"""`ReplayService`: resolves replay requests and starts replay executions."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from factflow_execution import (
    ENGINE_VERSION,
    ConfigSourceType,
    ExecutionLauncher,
    PipelineConfigService,
    PipelineExecution,
    ReplayInfo,
    ReplaySource,
    StoredSnapshot,
    build_snapshot,
)
from factflow_foundation import ExecutionPathResolver, new_id
from factflow_protocols import StorageProtocol

from ._objects import list_stage_outputs
from ._publisher import PROGRESS_INTERVAL_SECONDS, ReplayPublisher
from ._request import ReplayRequest, ReplayResult
from ._routes import ResolvedRoute, RouteResolver
from .errors import ReplayError, ReplaySourceMissingError

__all__ = ("ReplayService",)

logger = logging.getLogger(__name__)


def build_replay_info(
    route: ResolvedRoute,
    *,
    from_path: str | None,
    target_config_id: str,
    replay_batch_id: str,
    objects_found: int,
) -> ReplayInfo:
    """The docs/reference/http-api-endpoints.md ReplayInfo of a new replay execution (`publish_status: publishing`)."""
    return ReplayInfo(
        from_execution_id=route.source_execution_id,
        from_route=route.source_route,
        from_stage=route.source_stage,
        from_path=from_path,
        mode=route.mode,
        to_route=route.to_route,
        to_queue=route.to_queue,
        start_at_adapter=route.start_at_adapter,
        target_config_id=target_config_id,
        replay_batch_id=replay_batch_id,
        objects_found=objects_found,
        objects_published=0,
        objects_failed=0,
        publish_status="publishing",
    )


class ReplayService:
    """Creates replay executions; implements the execution layer's `ReplayCoordinator`.

    Resolution follows `replay_execution` step by step, and nothing is created unless every step
    succeeds:

    1. the source execution, any status (`ExecutionNotFoundError`);
    2. the target snapshot: a fresh one of `config_id` through the run gate
       (`ConfigNotFoundError`, `ConfigInactiveError`, `ConfigValidationError`), else the source's;
    3. the source route R from the **source** snapshot (`ReplayStageNotFoundError`,
       `AmbiguousStageError`, `ReplayRouteNotFoundError` for an unknown `from_route`);
    4. the `<uuid>.json` keys directly under `executions/<source>/<R>/<stage>/` starting with
       `from_path` (`ReplaySourceMissingError` when there are none);
    5. the entry point from the **target** snapshot (`ReplayRouteNotFoundError`,
       `ReplayStageNotFoundError`, `NothingToReplayError`);
    6. a slot (`TooManyConcurrentExecutionsError`) and the tag (`TagConflictError`), then the
       row (`source: replay`, `parent_execution_id`, `replay_source: storage`, a new
       `replay_batch_id`, the target `config_id` and snapshot, ReplayInfo `publishing`) and
       the start of every route with `skip_init` and a `ReplayPublisher` as seed.

    Args:
        launcher: Starts the replay execution (slot, tag, row, start), as it starts every execution.
        configs: The config service (run gate of a fresh target config).
        storage: The storage provider the stage outputs are read from.
        progress_interval_seconds: Minimum spacing of the publisher's progress reports.
        engine_version: Recorded in fresh snapshots.

    It needs the launcher, not the execution service, so the execution service can be given the
    replay service when it is built (`ExecutionServices.build(replay=...)`).
    """

    def __init__(
        self,
        *,
        launcher: ExecutionLauncher,
        configs: PipelineConfigService,
        storage: StorageProtocol,
        progress_interval_seconds: float = PROGRESS_INTERVAL_SECONDS,
        engine_version: str = ENGINE_VERSION,
    ) -> None:
        self.launcher = launcher
        self.configs = configs
        self.executions = launcher.executions
        self.storage = storage
        self._progress_interval = progress_interval_seconds
        self.engine_version = engine_version

    async def replay(self, parent_ref: str, request: ReplayRequest | Mapping[str, Any]) -> PipelineExecution:
        """Resolve `request` against the execution `parent_ref` and start the replay (E12/R1).

        Returns the new execution (its `replay` info says `publishing`); see `submit`.
        """
        return (await self.submit(parent_ref, request)).execution

    async def submit(self, parent_ref: str, request: ReplayRequest | Mapping[str, Any]) -> ReplayResult:
        """Like `replay`, returning the resolved route and the object count too.

        Raises:
            ReplayError: The request is malformed or asks for a `replay_source` other than
                `storage` (`request_validation_error`), or one of the resolution errors of
                the class docstring.
            ExecutionNotFoundError, ConfigNotFoundError, ConfigInactiveError, ConfigValidationError,
            TooManyConcurrentExecutionsError, TagConflictError: see the steps.
            ServiceUnavailableError: storage, queue or database is down, or the start failed
                (the row is then already `failed`).
        """
        req = ReplayRequest.coerce(request)
        if req.replay_source not in (None, ReplaySource.STORAGE):
            raise ReplayError(
                f"Replay source {str(req.replay_source)!r} is not supported; only `storage` is.",
                code="request_validation_error",
                context={"replay_source": str(req.replay_source)},
            )
        # 1. the source execution
        source = await self.executions.resolve(parent_ref)
        # 2. the target snapshot
        if req.config_id is not None:
            config, parsed = await self.configs.run_gate(req.config_id)
            target_snapshot = build_snapshot(config, parsed, engine_version=self.engine_version)
            target_config_id, config_name, config_version = config.config_id, config.name, config.version
        else:
            target_snapshot = source.config_snapshot
            target_config_id, config_name, config_version = (
                source.config_id,
                source.config_name,
                source.config_version,
            )
        resolver = RouteResolver(source.config_snapshot, target_snapshot)
        # 3. the source route
        source_route = resolver.source_route(req.from_stage, req.from_route)
        # 4. the stored outputs
        prefix = ExecutionPathResolver.stage_prefix(source.execution_id, source_route, req.from_stage)
        keys = await list_stage_outputs(self.storage, prefix, from_path=req.from_path)
        if not keys:
            where = f"{prefix}{req.from_path}*" if req.from_path else prefix
            raise ReplaySourceMissingError(
                f"No stored stage outputs under {where!r}; they may have been deleted.",
                context={"prefix": prefix, "from_path": req.from_path, "execution_id": source.execution_id},
            )
        # 5. the entry point
        route = resolver.entry_point(
            source_execution_id=source.execution_id,
            source_route=source_route,
            from_stage=req.from_stage,
            to_route=req.to_route,
        )
        # 6. slot, tag, row, start
        execution_id = new_id()
        replay_batch_id = new_id()
        info = build_replay_info(
            route,
            from_path=req.from_path,
            target_config_id=target_config_id,
            replay_batch_id=replay_batch_id,
            objects_found=len(keys),
        )
        publisher = ReplayPublisher(
            route=route,
            keys=keys,
            replay_batch_id=replay_batch_id,
            executions=self.executions,
            replay_info=info,
            progress_interval_seconds=self._progress_interval,
        )
        execution = await self.launcher.insert_and_launch(
            PipelineExecution(
                execution_id=execution_id,
                config_id=target_config_id,
                config_name=config_name,
                config_version=config_version,
                status="running",
                source=ConfigSourceType.REPLAY,
                started_at=datetime.now(UTC),
                stored_snapshot=StoredSnapshot(target_snapshot),
                tag=req.tag,
                parent_execution_id=source.execution_id,
                replay_batch_id=replay_batch_id,
                replay_source=ReplaySource.STORAGE.value,
                metadata=dict(req.metadata or {}),
                replay=dict(info),
            ),
            skip_init=True,
            seed=publisher,
        )
        logger.info(
            "Replaying %d object(s) of %s (%s/%s) into execution %s (%s, %s at adapter %d)",
            len(keys),
            source.execution_id,
            source_route,
            req.from_stage,
            execution_id,
            route.mode,
            route.to_queue,
            route.start_at_adapter,
        )
        return ReplayResult(execution=execution, route=route, objects_found=len(keys))
