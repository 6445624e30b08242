"""Re-injection: rebuilding an execution's lost queue contents from storage and lineage (docs/guides/recovery.md).

Used by start-up recovery when the queue kept nothing (memory queue, lost Redis state) and by
the orchestrator's stall detector (`Reinjector` is the manager's `reconciler`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from factflow_engine.conditions import evaluate_condition
from factflow_engine.config import ConditionConfig, PipelineGlobalConfig
from factflow_engine.runtime import SeedContext
from factflow_execution import PipelineExecution, PipelineExecutionRepository
from factflow_foundation import ExecutionPathResolver, derive_message_id
from factflow_lineage import LineageRecorder, LineageRepository
from factflow_protocols import (
    JSONObject,
    PublishStatus,
    QueueMessage,
    ReplayProgress,
    StorageNotFoundError,
    StorageProtocol,
)

from ._lineage_index import LineageIndex
from ._objects import StoredOutput, list_stage_outputs, read_output_patiently
from ._publisher import ReplayPublisher

__all__ = ("ReinjectionResult", "Reinjector", "route_order")

logger = logging.getLogger(__name__)

_CAPACITY_EVERY = 100
"""Re-injected messages between two waits for the route's capacity."""


@dataclass(frozen=True, slots=True)
class ReinjectionResult:
    """What one re-injection did."""

    reinjected: int
    """Messages published again (`recovered=true`) that the queue did not hold any more."""
    skipped: int
    """Candidates lineage shows finished where they were headed."""
    unrecoverable: int
    """Failures counted now: messages that cannot be rebuilt (producer storage disabled) and, at
    recovery, messages dead-lettered before the crash (their DLQ entries are gone)."""


def route_order(config: PipelineGlobalConfig) -> list[str]:
    """Route ids with every route after the routes it feeds (downstream first; cycles broken arbitrarily).

    Re-injecting downstream routes first records their messages in the dedupe set before an
    upstream route that resumes could publish the same ids again.
    """
    consumed = config.consumed_queues()
    edges = {
        route_id: [consumed[entry.queue_name] for entry in route.outbound if entry.queue_name in consumed]
        for route_id, route in config.routes.items()
    }
    order: list[str] = []
    seen: set[str] = set()

    def visit(route_id: str) -> None:
        stack: list[tuple[str, int]] = [(route_id, 0)]
        seen.add(route_id)
        while stack:
            node, position = stack.pop()
            children = edges.get(node, [])
            if position < len(children):
                stack.append((node, position + 1))
                child = children[position]
                if child not in seen:
                    seen.add(child)
                    stack.append((child, 0))
            else:
                order.append(node)

    for route_id in config.routes:
        if route_id not in seen:
            visit(route_id)
    return order


@dataclass(slots=True)
class _Plan:
    """Candidates of one re-injection, per target route, deduplicated by message id."""

    execution: PipelineExecution
    config: PipelineGlobalConfig
    storage: StorageProtocol
    index: LineageIndex
    candidates: dict[str, dict[str, QueueMessage]] = field(default_factory=dict)
    unrecoverable: set[str] = field(default_factory=set)
    skipped: int = 0

    @property
    def execution_id(self) -> str:
        return self.execution.execution_id

    def _stage(self, route_id: str, index: int) -> str:
        return self.config.routes[route_id].adapters[index].stage_name

    async def _read_output(self, route_id: str, index: int, message_id: str) -> JSONObject | None:
        key = ExecutionPathResolver.output_key(self.execution_id, route_id, self._stage(route_id, index), message_id)
        output = await read_output_patiently(self.storage, key)
        return output.json_object() if output is not None else None

    async def _read_manifest(self, route_id: str, index: int, message_id: str) -> JSONObject | None:
        key = ExecutionPathResolver.manifest_key(self.execution_id, route_id, self._stage(route_id, index), message_id)
        try:
            value = json.loads(await self.storage.read(key))
        except (StorageNotFoundError, ValueError):
            return None
        return value if isinstance(value, dict) and isinstance(value.get("children"), list) else None

    async def add(
        self,
        route_id: str,
        message_id: str,
        parent_id: str | None,
        payload: JSONObject,
        *,
        start: int = 0,
        metadata: JSONObject | None = None,
    ) -> None:
        """Add a message bound for `route_id` at adapter `start`, expanded to its unfinished leaves."""
        for message in await self._expand(route_id, message_id, parent_id, payload, start, dict(metadata or {})):
            self.candidates.setdefault(route_id, {}).setdefault(message.id, message)

    async def _expand(
        self,
        route_id: str,
        message_id: str,
        parent_id: str | None,
        payload: JSONObject,
        start: int,
        metadata: JSONObject,
    ) -> list[QueueMessage]:
        """The messages to re-inject for `message_id` in `route_id` from adapter `start`.

        Nothing when lineage shows it finished there. When it fanned out at a stored stage, its
        children (and itself, if it continued) are expanded from their stored outputs instead,
        so finished siblings are not run or published again.
        """
        route = self.config.routes[route_id]
        last = len(route.adapters) - 1
        if self.index.finished(route_id, message_id, last):
            self.skipped += 1
            return []
        fan = self.index.fanout_stage(route_id, message_id, start)
        if fan is not None and route.adapters[fan].storage.enabled:
            expanded = await self._expand_fanout(route_id, message_id, parent_id, fan, metadata)
            if expanded is not None:
                return expanded
        envelope = {**metadata, "recovered": True}
        if start:
            envelope["start_at_adapter"] = start
        return [
            QueueMessage(
                id=message_id,
                parent_id=parent_id,
                execution_id=self.execution_id,
                route_id=route_id,
                payload=payload,
                metadata=envelope,
            )
        ]

    async def _expand_fanout(
        self, route_id: str, message_id: str, parent_id: str | None, fan: int, metadata: JSONObject
    ) -> list[QueueMessage] | None:
        manifest = await self._read_manifest(route_id, fan, message_id)
        if manifest is None:
            return None
        children: list[tuple[str, JSONObject]] = []
        for child in manifest["children"]:
            child_payload = await self._read_output(route_id, fan, str(child))
            if child_payload is None:
                return None  # a child output is gone: the fan-out runs again (same child ids)
            children.append((str(child), child_payload))
        own: JSONObject | None = None
        if manifest.get("message_continues"):
            own = await self._read_output(route_id, fan, message_id)
            if own is None:
                return None
        leaves: list[QueueMessage] = []
        for child_id, child_payload in children:
            leaves += await self._expand(route_id, child_id, message_id, child_payload, fan + 1, metadata)
        if own is not None:
            leaves += await self._expand(route_id, message_id, parent_id, own, fan + 1, metadata)
        return leaves


class Reinjector:
    """Re-injects the messages an execution lost from its queues.

    **Candidates** for each route R of the snapshot:

    - the init message (bound for the init route);
    - the stored outputs of each upstream route's last stage that pass its outbound condition
      toward R;
    - for replay executions, the publisher's messages (rebuilt from the same keys and ids).

    A candidate lineage shows **finished** in R (a `completed` or `skipped` row at R's last
    adapter, a `result=none` row, or a dead-lettered row) is skipped. A candidate that fanned
    out at a stored stage of R is replaced by its unfinished children (from their stored
    outputs, at the next adapter), so finished siblings run nowhere again. The rest are
    published, deduplicated, with `metadata.recovered = true`: the queue takes only those it no
    longer holds, and the engine's resume walk then skips the stages they already completed.
    Routes are served downstream first.

    Messages that cannot be rebuilt — the output of a producer whose last stage stores nothing,
    known from lineage, that never finished in R — count as failures (`record_failures`), once
    per execution and process.

    An instance is the manager's stall `reconciler` (a `SeedCallable`): pass it as
    `EngineWiring(reconciler=reinjector)` (`compose_runtime` sets it). Start-up recovery calls `reinject(...)`.

    Args:
        executions: Execution rows (init payload, replay info).
        lineage: Lineage queries.
        recorder: Flushed before lineage is read during a stall, so rows still buffered count.
        flush_timeout: How long that flush may take.
    """

    def __init__(
        self,
        *,
        executions: PipelineExecutionRepository,
        lineage: LineageRepository,
        recorder: LineageRecorder | None = None,
        flush_timeout: float = 5.0,
    ) -> None:
        self.executions = executions
        self.lineage = lineage
        self.recorder = recorder
        self.flush_timeout = flush_timeout
        self._failures_counted: dict[str, set[str]] = {}

    async def __call__(self, context: SeedContext) -> None:
        """Stall reconciliation: re-inject what the execution lost (the orchestrator then re-syncs counts)."""
        execution_id = context.execution_id
        if self.recorder is not None:
            await self.recorder.flush(execution_id, timeout=self.flush_timeout)
        execution = await self.executions.get(execution_id)
        # Queues that are empty with nothing running here hold none of the candidates, so forcing is
        # safe; it brings back entries whose dedupe record outlived them (a stream deleted or trimmed).
        stalled = await context.queue_depth() == 0 and not context.has_local_work()
        result = await self.reinject(context, execution, force=stalled)
        logger.warning(
            "Execution %s reconciled: re-injected %d message(s), %d unrecoverable, %d already finished",
            execution_id,
            result.reinjected,
            result.unrecoverable,
            result.skipped,
        )

    async def reinject(
        self,
        context: SeedContext,
        execution: PipelineExecution,
        *,
        index: LineageIndex | None = None,
        count_dead_letters: bool = False,
        force: bool = False,
    ) -> ReinjectionResult:
        """Re-inject `execution`'s unfinished messages through `context` (see the class docstring).

        Args:
            context: The running execution's seed context.
            execution: Its row.
            index: Its lineage, when the caller already loaded it.
            count_dead_letters: Also count messages dead-lettered before (start-up recovery in
                re-injection mode: their DLQ entries died with the process).
            force: Publish past the dedupe record; only safe while the queues hold none of the
                candidates.
        """
        if index is None:
            index = await LineageIndex.load(self.lineage, execution.execution_id)
        config = context.config
        plan = _Plan(execution=execution, config=config, storage=context.storage, index=index)
        await self._init_candidate(plan)
        await self._upstream_candidates(plan)
        await self._replay_candidates(plan, context)
        reinjected = 0
        for route_id in route_order(config):
            messages = list(plan.candidates.get(route_id, {}).values())
            queue = config.routes[route_id].inbound.queue_name
            for position, message in enumerate(messages):
                if position % _CAPACITY_EVERY == 0:
                    await context.wait_for_capacity(route_id)
                # Deduplicated unless forced: a queue that lost its entries lost its dedupe record with
                # them (one atomic step in the provider), while one that still holds the message
                # answers DUPLICATE. A second pass over the same loss therefore re-injects nothing.
                if await context.publish(queue, message, force=force) is PublishStatus.PUBLISHED:
                    reinjected += 1
        failures = set(plan.unrecoverable) - {
            message_id for messages in plan.candidates.values() for message_id in messages
        }
        if count_dead_letters:
            failures |= index.dead_lettered
        counted = self._failures_counted.setdefault(execution.execution_id, set())
        new_failures = failures - counted
        counted |= new_failures
        context.record_failures(len(new_failures))
        return ReinjectionResult(reinjected=reinjected, skipped=plan.skipped, unrecoverable=len(new_failures))

    def forget(self, execution_id: str) -> None:
        """Drop what was remembered about `execution_id` (failures already counted)."""
        self._failures_counted.pop(execution_id, None)

    # ------------------------------------------------------------------ candidates

    async def _init_candidate(self, plan: _Plan) -> None:
        init = plan.config.init_message
        root = plan.execution.root_correlation_id
        if init is None or root is None or init.route not in plan.config.routes:
            return
        payload = plan.execution.init_payload if plan.execution.init_payload is not None else init.payload
        await plan.add(init.route, root, None, dict(payload), metadata={"hop_count": 0})

    async def _upstream_candidates(self, plan: _Plan) -> None:
        config = plan.config
        consumed = config.consumed_queues()
        for producer_id, producer in config.routes.items():
            targets = [
                (consumed[entry.queue_name], entry.condition)
                for entry in producer.outbound
                if entry.queue_name in consumed
            ]
            if not targets:
                continue
            last = len(producer.adapters) - 1
            if not producer.adapters[last].storage.enabled:
                self._unrecoverable_outputs(plan, producer_id, last, targets)
                continue
            prefix = ExecutionPathResolver.stage_prefix(
                plan.execution_id, producer_id, producer.adapters[last].stage_name
            )
            for key in await list_stage_outputs(plan.storage, prefix):
                output = await read_output_patiently(plan.storage, key)
                payload = output.json_object() if output is not None else None
                if output is None or payload is None:
                    continue
                message_id = key[len(prefix) : -len(".json")]
                parent_id = output.sidecar_text("parent_correlation_id")
                for route_id, condition in targets:
                    if _passes(condition, payload):
                        await plan.add(route_id, message_id, parent_id, payload, metadata=_carried(output))

    @staticmethod
    def _unrecoverable_outputs(
        plan: _Plan, producer_id: str, last: int, targets: Iterable[tuple[str, ConditionConfig | None]]
    ) -> None:
        """Outputs lineage knows of that cannot be rebuilt, because the producer stores nothing."""
        for message_id, fact in plan.index.completed_outputs(producer_id, last):
            outputs: list[str] = []
            if fact.result in ("message", "both"):
                outputs.append(message_id)
            if fact.result in ("emitted", "both"):
                outputs += [
                    derive_message_id(message_id, producer_id, str(last), str(position))
                    for position in range(fact.emitted_count)
                ]
            for output_id in outputs:
                for route_id, condition in targets:
                    route_last = len(plan.config.routes[route_id].adapters) - 1
                    if plan.index.finished(route_id, output_id, route_last):
                        continue
                    # Without the payload an outbound condition cannot be checked: only an output
                    # that provably went to R (a row there, or an unconditional edge) is lost.
                    if condition is None or plan.index.has_rows(route_id, output_id):
                        plan.unrecoverable.add(output_id)

    async def _replay_candidates(self, plan: _Plan, context: SeedContext) -> None:
        execution = plan.execution
        if not execution.replay:
            return
        publisher = await ReplayPublisher.for_execution(execution, storage=plan.storage, executions=self.executions)
        route = publisher.route
        published = failed = 0
        for key in publisher.keys:
            found = await publisher.message_for(plan.storage, key)
            if found is None:
                failed += 1
                continue
            _, message = found
            published += 1
            metadata = {
                "replay_batch_id": message.control.replay_batch_id,
                "replay_source_key": message.control.replay_source_key,
            }
            for target in route.targets_for(message.payload):
                if target.route_id is None:
                    continue
                await plan.add(
                    target.route_id,
                    message.id,
                    message.parent_id,
                    message.payload,
                    start=route.start_at_adapter,
                    metadata=metadata,
                )
        info = dict(execution.replay)
        if info.get("publish_status") != "publishing":
            return
        if published == 0 and int(info.get("objects_published") or 0) == 0:
            info.update(objects_found=len(publisher.keys), objects_published=0, objects_failed=failed)
            info["publish_status"] = "failed"
            await self.executions.update_replay(execution.execution_id, info)
            context.fail(
                "replay_publish_failed",
                f"No replay message could be published ({failed} of {len(publisher.keys)} object(s) unreadable).",
                {"objects_found": len(publisher.keys), "objects_failed": failed},
            )
            return
        info.update(
            objects_found=len(publisher.keys),
            objects_published=published,
            objects_failed=failed,
            publish_status="completed",
        )
        await self.executions.update_replay(execution.execution_id, info)
        context.emit(
            ReplayProgress(
                objects_found=int(info["objects_found"]),
                objects_published=int(info["objects_published"]),
                objects_failed=int(info["objects_failed"]),
                publish_status=str(info["publish_status"]),
            )
        )


def _passes(condition: ConditionConfig | None, payload: JSONObject) -> bool:
    return condition is None or evaluate_condition(condition, payload)


def _carried(output: StoredOutput) -> JSONObject:
    """Envelope metadata a stored output carries on between routes: its replay batch (as the engine does)."""
    batch = output.sidecar_text("replay_batch_id")
    return {"replay_batch_id": batch} if batch is not None else {}
