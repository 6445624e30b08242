"""`ReplayPublisher`: the seed task publishing one message per stored object (docs/concepts/replay.md)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from factflow_engine.runtime import SeedContext
from factflow_execution import PipelineExecution, PipelineExecutionRepository
from factflow_foundation import ServiceUnavailableError
from factflow_protocols import QueueMessage, ReplayProgress, StorageProtocol

from ._messages import replay_message
from ._objects import StoredOutput, list_stage_outputs, read_output_patiently
from ._routes import ResolvedRoute, RouteResolver

__all__ = ("PUBLISH_BATCH_SIZE", "ReplayPublishStatus", "ReplayProgress", "ReplayPublisher", "resolved_route_of")

logger = logging.getLogger(__name__)

PUBLISH_BATCH_SIZE = 100
"""Messages per pipelined publish."""
PROGRESS_INTERVAL_SECONDS = 0.5
"""`replay.progress` at most twice a second (plus once at the end)."""

ReplayPublishStatus = Literal["publishing", "completed", "failed"]


def resolved_route_of(execution: PipelineExecution) -> ResolvedRoute:
    """The routing of a replay execution, rebuilt from its ReplayInfo and its own snapshot.

    Raises:
        ValueError: the execution is not a replay (no `replay` info).
        ReplayError: the snapshot no longer resolves (cannot happen for a snapshot that started).
    """
    info = execution.replay
    if not info:
        raise ValueError(f"Execution {execution.execution_id!r} is not a replay.")
    resolver = RouteResolver(execution.config_snapshot)
    return resolver.entry_point(
        source_execution_id=str(info["from_execution_id"]),
        source_route=str(info["from_route"]),
        from_stage=str(info["from_stage"]),
        to_route=str(info["to_route"]) if info.get("mode") == "cross_pipeline" else None,
    )


class ReplayPublisher:
    """Publishes one message per selected key, in key order; a seed task owned by the manager.

    Use an instance as the `seed` of `OrchestratorManager.start` (it is a `SeedCallable`). Each
    key becomes the message of `replay_message` (id `derive_message_id(replay_batch_id, key)`,
    parent from the sidecar, payload the stored JSON object). Messages go out in batches of
    100 after waiting for the entered routes' capacity (high-water mark, fan-out budget); a
    last-stage replay sends each message to every outbound queue whose condition holds — a
    message no condition accepts still counts as published (routed to no queue), like a final
    output the engine routes nowhere.

    An object gone by the time it is read counts in `objects_failed`. Progress goes to the
    execution's `replay` info and to `replay.progress` events at most every
    `progress_interval_seconds`, and once at the end. If nothing could be published, the
    execution ends `failed` with `replay_publish_failed`. Ids are deterministic and publishes
    deduplicated, so running the publisher again (after a crash) publishes nothing twice.

    Args:
        route: Where the messages go.
        keys: The stored objects to publish, in order.
        replay_batch_id: The replay batch of the execution.
        executions: Where the `replay` info is kept up to date; not written when omitted.
        replay_info: The ReplayInfo to keep up to date (its routing fields are kept as given).
        fail_when_empty: End the execution `failed` when nothing was published (off for a
            re-run whose earlier run already published).
        batch_size: Messages per publish.
        progress_interval_seconds: Minimum spacing of progress reports.
        clock: Monotonic time (tests).
    """

    def __init__(
        self,
        *,
        route: ResolvedRoute,
        keys: Sequence[str],
        replay_batch_id: str,
        executions: PipelineExecutionRepository | None = None,
        replay_info: Mapping[str, Any] | None = None,
        fail_when_empty: bool = True,
        batch_size: int = PUBLISH_BATCH_SIZE,
        progress_interval_seconds: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.route = route
        self.keys = tuple(keys)
        self.replay_batch_id = replay_batch_id
        self._executions = executions
        self._info = dict(replay_info or {})
        self._fail_when_empty = fail_when_empty
        self._batch_size = batch_size
        self._interval = progress_interval_seconds
        self._clock = clock
        self._published = 0
        self._failed = 0
        self._status: ReplayPublishStatus = "publishing"
        self._last_report: float | None = None

    @classmethod
    async def for_execution(
        cls,
        execution: PipelineExecution,
        *,
        storage: StorageProtocol,
        executions: PipelineExecutionRepository | None = None,
    ) -> ReplayPublisher:
        """A publisher for a replay execution's row (recovery re-runs it).

        The keys are listed again under the source prefix (with `from_path`); the routing is
        resolved again from the execution's own snapshot. If the earlier run already
        published, an empty re-run does not fail the execution.
        """
        info = dict(execution.replay or {})
        route = resolved_route_of(execution)
        from_path = info.get("from_path")
        keys = await list_stage_outputs(
            storage, route.source_prefix, from_path=str(from_path) if from_path is not None else None
        )
        return cls(
            route=route,
            keys=keys,
            replay_batch_id=str(info.get("replay_batch_id") or execution.replay_batch_id),
            executions=executions,
            replay_info=info,
            fail_when_empty=int(info.get("objects_published") or 0) == 0,
        )

    # ------------------------------------------------------------------ state

    @property
    def progress(self) -> ReplayProgress:
        return ReplayProgress(
            objects_found=len(self.keys),
            objects_published=self._published,
            objects_failed=self._failed,
            publish_status=self._status,
        )

    def replay_info(self) -> dict[str, Any]:
        """The ReplayInfo with the current counters."""
        return {**self._info, **self.progress.data()}

    async def message_for(self, storage: StorageProtocol, key: str) -> tuple[StoredOutput, QueueMessage] | None:
        """The stored object at `key` and its replay message, or None when the object is gone."""
        output = await read_output_patiently(storage, key)
        if output is None:
            return None
        return output, replay_message(
            output, replay_batch_id=self.replay_batch_id, start_at_adapter=self.route.start_at_adapter
        )

    # ------------------------------------------------------------------ run

    async def __call__(self, context: SeedContext) -> None:
        """Publish every key; see the class docstring."""
        self._published = 0
        self._failed = 0
        self._status = "publishing"
        self._last_report = None
        storage = context.storage
        for start in range(0, len(self.keys), self._batch_size):
            for route_id in self.route.entry_routes:
                await context.wait_for_capacity(route_id)
            by_queue: dict[str, list[QueueMessage]] = {}
            routed = 0
            for key in self.keys[start : start + self._batch_size]:
                found = await self.message_for(storage, key)
                if found is None:
                    logger.warning("Replay object %r vanished before it was published", key)
                    self._failed += 1
                    continue
                _, message = found
                for target in self.route.targets_for(message.payload):
                    by_queue.setdefault(target.queue, []).append(
                        message.model_copy(update={"route_id": target.route_id})
                    )
                routed += 1
            for queue, messages in by_queue.items():
                await context.publish_batch(queue, messages)
            self._published += routed
            await self._report(context, final=False)
        if self._published == 0 and self._fail_when_empty:
            self._status = "failed"
            await self._report(context, final=True)
            context.fail(
                "replay_publish_failed",
                f"No replay message could be published ({self._failed} of {len(self.keys)} object(s) unreadable).",
                {"objects_found": len(self.keys), "objects_failed": self._failed},
            )
            return
        self._status = "completed"
        await self._report(context, final=True)

    async def _report(self, context: SeedContext, *, final: bool) -> None:
        now = self._clock()
        if not final and self._last_report is not None and now - self._last_report < self._interval:
            return
        self._last_report = now
        context.emit(self.progress)
        if self._executions is None:
            return
        try:
            await self._executions.update_replay(context.execution_id, self.replay_info())
        except ServiceUnavailableError as exc:  # progress is informative; publishing goes on
            logger.warning("Could not store replay progress of %s: %s", context.execution_id, exc)
