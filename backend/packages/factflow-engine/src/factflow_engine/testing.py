"""Run adapters and whole pipelines in process, for factflow's own tests and for adapter authors.

Two entry points:

* `run_adapter` calls one adapter on one payload, the way a route would (fresh context,
  `start()` before, `stop()` after), and returns its `AdapterResult`:

  ```python
  from factflow_engine.testing import run_adapter

  async def test_my_adapter() -> None:
      result = await run_adapter(MyAdapter, {"url": "https://example.com"}, config={"timeout": 5})
      assert result is not None and result.message == {...}
  ```

* `run_pipeline` runs a pipeline YAML end to end on the in-memory queue, filesystem storage in a
  temporary directory and SQLite lineage, and returns a `PipelineRunResult` with the final
  status, message counts, every stored object and sidecar, every lineage row, the dead-letter
  queues and the engine events:

  ```python
  from factflow_engine.testing import run_pipeline

  async def test_my_pipeline(tmp_path) -> None:
      result = await run_pipeline(PIPELINE_YAML, workdir=tmp_path, adapters={"my_adapter": MyAdapter})
      assert result.status == "completed"
      assert len(result.outputs("my_route", "my_adapter")) == 3
  ```

  For control during the run (cancel, pause, faults), use `PipelineHarness` directly:
  `async with PipelineHarness(workdir=tmp_path) as harness: execution = await harness.start(yaml)`.

Adapters are found through the `factflow.adapters` entry points of the installed packages, plus
any classes passed in `adapters`.

`run_adapter` needs nothing beyond the engine. `PipelineHarness` and `run_pipeline` use
factflow-infra (memory queue, filesystem storage, SQLite) and factflow-lineage (recorder,
queries), which the engine itself does not depend on: install `factflow-engine[testing]`.
They are imported when a harness is built, so importing this module never needs them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from factflow_engine._ports import FinalStatus, RoutePause
from factflow_engine.config import ConfigSnapshot, PipelineConfigLoader, PipelineGlobalConfig
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import (
    EngineLimits,
    EngineWiring,
    OrchestratorManager,
    PipelineOrchestrator,
    RuntimeOptions,
    SeedCallable,
    scoped_queue_name,
)
from factflow_engine.storage import ENGINE_VERSION
from factflow_foundation import SIDECAR_SUFFIX, ExecutionPathResolver, config_hash, new_id
from factflow_protocols import (
    AdapterResult,
    EngineEvent,
    ErrorInfo,
    JSONObject,
    MessageStatus,
    PipelineAdapter,
    PipelineContext,
    QueueMessage,
    StorageProtocol,
    utc_now_rfc3339,
)

if TYPE_CHECKING:
    from factflow_infra.queue import MemoryQueueProvider
    from factflow_lineage import LineageRecorder, LineageRepository

__all__ = (
    "PipelineExecution",
    "PipelineHarness",
    "PipelineRunResult",
    "RecordedCallbacks",
    "RecordingEventSink",
    "StoredItem",
    "TEST_OPTIONS",
    "build_snapshot",
    "run_adapter",
    "run_pipeline",
)

logger = logging.getLogger(__name__)

TEST_OPTIONS = RuntimeOptions(
    sample_interval_seconds=0.1,
    stall_check_interval_seconds=1.0,
    stall_timeout_seconds=3.0,
    storage_write_retry_delays=(0.01, 0.02, 0.04),
    storage_backoff_initial_seconds=0.05,
    storage_backoff_max_seconds=0.5,
    publish_retry_initial_seconds=0.05,
    publish_retry_max_seconds=0.5,
    progress_interval_seconds=0.5,
)
"""Runtime options for tests: the production behaviour with short waits."""

_DLQ_READER = "factflow-testing"


# ---------------------------------------------------------------------------------------- adapters


def _build_adapter(
    adapter: PipelineAdapter | type[PipelineAdapter] | str,
    config: Mapping[str, Any] | BaseModel | None,
    registry: ValidatingAdapterRegistry | None,
) -> PipelineAdapter:
    if isinstance(adapter, PipelineAdapter):
        return adapter
    if isinstance(adapter, str):
        registry = registry or ValidatingAdapterRegistry().auto_discover_and_register()
        raw = config.model_dump() if isinstance(config, BaseModel) else config
        return registry.create(adapter, dict(raw) if raw is not None else None)
    model = adapter.config_model
    if isinstance(config, BaseModel):
        return adapter(config)
    if model is None:
        if config:
            raise ValueError(f"{adapter.__name__} takes no configuration, got {dict(config)!r}.")
        return adapter()
    return adapter(model.model_validate(dict(config or {})))


async def run_adapter(
    adapter: PipelineAdapter | type[PipelineAdapter] | str,
    payload: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | BaseModel | None = None,
    registry: ValidatingAdapterRegistry | None = None,
    correlation_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    attempt: int = 1,
    delivery_count: int = 1,
    storage: StorageProtocol | None = None,
    execution_id: str | None = None,
    route_id: str = "test_route",
    stage: str | None = None,
    timeout: float | None = 30.0,  # noqa: ASYNC109  # a plain option of a test helper
) -> AdapterResult | None:
    """Run one adapter on one payload, as a route would, and return what it returned.

    The adapter gets `start()` before and `stop()` after (also when `process` raises), and a
    fresh `PipelineContext` whose `message` is a private copy of `payload`.

    Args:
        adapter: An instance, an adapter class (configured from `config` with its
            `config_model`), or a registered type name (built through the registry).
        payload: The input message.
        config: Adapter configuration (a mapping, or a ready config model instance).
        registry: Registry for type names; the installed entry points by default.
        correlation_id: The message id (a new id by default).
        metadata: Envelope metadata the adapter sees.
        attempt: `context.attempt` (retries count from 1 within a delivery).
        delivery_count: `context.delivery_count`.
        storage: Storage for artefacts (`context.storage`), e.g. a `FilesystemStorageProvider`.
        execution_id: The execution id in `context` and `context.paths`.
        route_id: The route id in `context`.
        stage: The stage name (the adapter type by default).
        timeout: Seconds `process` may take; None for no limit.

    Raises:
        Whatever `process` raises (`NonRetryableError` included).
    """
    instance = _build_adapter(adapter, config, registry)
    message_id = correlation_id or new_id()
    execution = execution_id or new_id()
    stage_name: str = stage or str(getattr(instance, "adapter_type", "test_stage"))
    context = PipelineContext(
        message=json.loads(json.dumps(dict(payload))),
        correlation_id=message_id,
        execution_id=execution,
        route_id=route_id,
        stage_name=stage_name,
        metadata=MappingProxyType(dict(metadata or {})),
        delivery_count=delivery_count,
        attempt=attempt,
        lineage_id=new_id(),
        storage=storage,
        paths=ExecutionPathResolver.bind(execution, route_id, stage_name, message_id),
    )
    await instance.start()
    try:
        async with asyncio.timeout(timeout):
            return await instance.process(context)
    finally:
        await instance.stop()


# ---------------------------------------------------------------------------------------- events and callbacks


class RecordingEventSink:
    """An `EngineEventSink` that keeps every event and lets tests wait for one."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, JSONObject]] = []
        """`(execution_id, event_type, data)` in emission order, `data` as the event streams send it."""
        self._changed = asyncio.Event()

    def emit(self, execution_id: str, event: EngineEvent) -> None:
        self.events.append((execution_id, event.event_type, event.data()))
        self._changed.set()
        self._changed = asyncio.Event()

    def of(self, event_type: str, execution_id: str | None = None) -> list[JSONObject]:
        """Data of every event of `event_type` (of one execution, or of all)."""
        return [
            data
            for owner, kind, data in self.events
            if kind == event_type and (execution_id is None or owner == execution_id)
        ]

    async def wait_for(
        self,
        event_type: str,
        predicate: Callable[[JSONObject], bool] = lambda data: True,
        *,
        execution_id: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109  # a plain option of a test helper
    ) -> JSONObject:
        """Wait until an event of `event_type` matching `predicate` was emitted; return its data.

        Raises:
            TimeoutError: none arrived within `timeout` seconds.
        """
        async with asyncio.timeout(timeout):
            while True:
                for data in self.of(event_type, execution_id):
                    if predicate(data):
                        return data
                await self._changed.wait()

    async def wait_count(
        self,
        event_type: str,
        count: int,
        predicate: Callable[[JSONObject], bool] = lambda data: True,
        *,
        execution_id: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109  # a plain option of a test helper
    ) -> list[JSONObject]:
        """Wait until at least `count` events of `event_type` match `predicate`; return them.

        Raises:
            TimeoutError: fewer arrived within `timeout` seconds.
        """
        async with asyncio.timeout(timeout):
            while True:
                found = [data for data in self.of(event_type, execution_id) if predicate(data)]
                if len(found) >= count:
                    return found
                await self._changed.wait()


class RecordedCallbacks:
    """`OrchestratorCallbacks` that remember the final status of each execution."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: dict[str, tuple[FinalStatus, ErrorInfo | None, dict[str, int]]] = {}
        self._done: dict[str, asyncio.Event] = {}

    def _event(self, execution_id: str) -> asyncio.Event:
        return self._done.setdefault(execution_id, asyncio.Event())

    async def on_started(self, execution_id: str) -> None:
        self.started.append(execution_id)

    async def on_stopped(
        self,
        execution_id: str,
        status: FinalStatus,
        error_info: ErrorInfo | None,
        message_counts: dict[str, int],
    ) -> None:
        self.stopped[execution_id] = (status, error_info, dict(message_counts))
        self._event(execution_id).set()

    async def wait(self, execution_id: str) -> tuple[FinalStatus, ErrorInfo | None, dict[str, int]]:
        await self._event(execution_id).wait()
        return self.stopped[execution_id]


# ---------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class StoredItem:
    """One stored object and its sidecar."""

    key: str
    body: Any
    """The parsed JSON body."""
    sidecar: JSONObject


@dataclass(slots=True)
class PipelineRunResult:
    """Everything an execution left behind, for assertions."""

    execution_id: str
    status: FinalStatus
    error_info: ErrorInfo | None
    message_counts: dict[str, int]
    """`published, handled, in_flight, dead_lettered, tolerated_failures` at the end."""
    objects: dict[str, StoredItem]
    """Every object stored under `executions/<execution_id>/`, by key."""
    lineage: list[JSONObject]
    """Every lineage row of the execution (HTTP API `LineageEntry` dicts), by `started_at`."""
    dead_letters: dict[str, list[QueueMessage]]
    """DLQ entries by logical DLQ name."""
    events: list[tuple[str, JSONObject]]
    """`(event_type, data)` of every engine event of the execution."""
    lineage_dropped: int = 0
    """Lineage events of this execution that were dropped (database down, buffer full)."""
    config: PipelineGlobalConfig | None = field(default=None, repr=False)

    def outputs(self, route_id: str, stage: str) -> JSONObject:
        """Stage outputs of one route and stage, by message id (manifests excluded)."""
        prefix = ExecutionPathResolver.stage_prefix(self.execution_id, route_id, stage)
        found: JSONObject = {}
        for key, item in self.objects.items():
            name = key[len(prefix) :]
            if key.startswith(prefix) and "/" not in name and not name.endswith(".fanout.json"):
                found[name.removesuffix(".json")] = item.body
        return found

    def manifests(self, route_id: str, stage: str) -> JSONObject:
        """Fan-out manifests of one route and stage, by parent message id."""
        prefix = ExecutionPathResolver.stage_prefix(self.execution_id, route_id, stage)
        return {
            key[len(prefix) :].removesuffix(".fanout.json"): item.body
            for key, item in self.objects.items()
            if key.startswith(prefix) and key.endswith(".fanout.json")
        }

    def sidecar(self, route_id: str, stage: str, message_id: str, *, manifest: bool = False) -> JSONObject:
        """The sidecar of one stage output (or fan-out manifest).

        Raises:
            KeyError: nothing was stored there.
        """
        build = ExecutionPathResolver.manifest_key if manifest else ExecutionPathResolver.output_key
        return self.objects[build(self.execution_id, route_id, stage, message_id)].sidecar

    def rows(
        self,
        *,
        route_id: str | None = None,
        adapter_index: int | None = None,
        status: str | None = None,
        correlation_id: str | None = None,
    ) -> list[JSONObject]:
        """Lineage rows matching every given filter."""
        return [
            row
            for row in self.lineage
            if (route_id is None or row["route_id"] == route_id)
            and (adapter_index is None or row["adapter_index"] == adapter_index)
            and (status is None or row["stage_status"] == status)
            and (correlation_id is None or row["correlation_id"] == correlation_id)
        ]

    def events_of(self, event_type: str) -> list[JSONObject]:
        return [data for kind, data in self.events if kind == event_type]


# ---------------------------------------------------------------------------------------- harness


def build_snapshot(config_yaml: str, config: PipelineGlobalConfig, *, config_version: int = 1) -> ConfigSnapshot:
    """An execution's `ConfigSnapshot` the way the execution service freezes it."""
    return ConfigSnapshot.capture(
        config,
        config_yaml=config_yaml,
        config_hash=config_hash(config_yaml),
        config_version=config_version,
        config_name=config.name,
        captured_at=utc_now_rfc3339(),
        engine_version=ENGINE_VERSION,
    )


class PipelineExecution:
    """One execution started by a `PipelineHarness`."""

    def __init__(
        self,
        harness: PipelineHarness,
        execution_id: str,
        orchestrator: PipelineOrchestrator,
        config: PipelineGlobalConfig,
    ) -> None:
        self.harness = harness
        self.execution_id = execution_id
        self.orchestrator = orchestrator
        self.config = config

    def cancel(self) -> bool:
        return self.harness.manager.cancel(self.execution_id)

    async def wait(self, timeout: float = 60.0) -> PipelineRunResult:  # noqa: ASYNC109  # a plain option of a test helper
        """Wait for the final status, then collect storage, lineage, DLQs and events.

        Raises:
            TimeoutError: the execution did not end within `timeout` seconds.
        """
        async with asyncio.timeout(timeout):
            status, error_info, counts = await self.harness.callbacks.wait(self.execution_id)
        return await self.harness.collect(self.execution_id, status, error_info, counts, self.config)


class PipelineHarness:
    """An in-process factflow: memory queue, filesystem storage, SQLite lineage and a manager.

    Args:
        workdir: Directory for storage (`storage/`) and the database (`factflow.db`); a
            temporary directory (removed at exit) when omitted.
        adapters: Extra adapter classes by type name, registered beside the installed ones.
        registry: The registry to use instead of discovering the installed adapters.
        options: Runtime options (`TEST_OPTIONS`, short waits, by default).
        lineage: Record lineage in SQLite (`False` drops rows, for speed).
        max_concurrent_executions: Manager capacity.
        lineage_buffer_size: The recorder's buffer (small values make drops easy to provoke).
        redelivery_delay_seconds: How soon the memory queue redelivers unacked entries.
        reconciler: Passed to the manager (stall reconciliation).
        storage: A storage provider to use instead of filesystem storage under `workdir`
            (started and shut down by the caller).
    """

    def __init__(
        self,
        *,
        workdir: str | Path | None = None,
        adapters: Mapping[str, type[PipelineAdapter]] | None = None,
        registry: ValidatingAdapterRegistry | None = None,
        options: RuntimeOptions | None = None,
        lineage: bool = True,
        max_concurrent_executions: int = 10,
        lineage_buffer_size: int = 10_000,
        redelivery_delay_seconds: float = 0.2,
        reconciler: SeedCallable | None = None,
        storage: StorageProtocol | None = None,
    ) -> None:
        # The `testing` extra: infra and lineage are not dependencies of the engine itself.
        from factflow_infra.queue import MemoryQueueProvider
        from factflow_infra.storage import FilesystemStorageProvider

        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="factflow-test-")
            workdir = self._tempdir.name
        self.workdir = Path(workdir)
        self.registry = registry or ValidatingAdapterRegistry().auto_discover_and_register()
        for name, cls in (adapters or {}).items():
            self.registry.register(cls, name=name)
        self.loader = PipelineConfigLoader(self.registry)
        self.options = options or TEST_OPTIONS
        self.queue: MemoryQueueProvider = MemoryQueueProvider(redelivery_delay_seconds=redelivery_delay_seconds)
        self._own_storage: FilesystemStorageProvider | None = None
        if storage is None:
            storage = self._own_storage = FilesystemStorageProvider(self.workdir / "storage")
        self.storage: StorageProtocol = storage
        self.database_url = f"sqlite+aiosqlite:///{self.workdir / 'factflow.db'}"
        self._lineage_enabled = lineage
        self._lineage_buffer_size = lineage_buffer_size
        self.recorder: LineageRecorder | None = None
        self.repository: LineageRepository | None = None
        self.events = RecordingEventSink()
        self.callbacks = RecordedCallbacks()
        self._max_concurrent = max_concurrent_executions
        self._reconciler = reconciler
        self._engine: Any = None
        self.manager: OrchestratorManager
        self.paused: dict[str, RoutePause] = {}

    async def __aenter__(self) -> PipelineHarness:
        from factflow_infra.database import create_database_engine, create_session_factory, run_migrations
        from factflow_lineage import LineageRecorder, LineageRepository

        await self.queue.connect()
        if self._own_storage is not None:
            await self._own_storage.start()
        if self._lineage_enabled:
            self._engine = create_database_engine(self.database_url, pool_size=2)
            await run_migrations(self._engine)
            self.recorder = LineageRecorder(
                self._engine, buffer_size=self._lineage_buffer_size, batch_size=500, flush_interval_ms=50
            )
            await self.recorder.start()
            self.repository = LineageRepository(create_session_factory(self._engine), query_timeout=5.0)
        repository = self.repository
        self.manager = EngineWiring(
            queue=self.queue,
            storage=self.storage,
            adapters=self.registry,
            lineage=self.recorder,
            lineage_lookup=repository.rows_for_message if repository is not None else None,
            events=self.events,
            reconciler=self._reconciler,
            limits=EngineLimits(
                max_concurrent_executions=self._max_concurrent, shutdown_grace_seconds=5.0, options=self.options
            ),
        ).build_manager()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.manager.shutdown(0)
        finally:
            try:
                if self.recorder is not None:
                    await self.recorder.shutdown(timeout=5.0)
                if self._engine is not None:
                    await self._engine.dispose()
                await self.queue.close()
                if self._own_storage is not None:
                    await self._own_storage.shutdown()
            finally:
                if self._tempdir is not None:
                    self._tempdir.cleanup()

    def load(self, pipeline: str | PipelineGlobalConfig | Mapping[str, Any]) -> tuple[str, PipelineGlobalConfig]:
        """Validate a pipeline (YAML text, a mapping or a model); returns `(yaml_text, config)`.

        Raises:
            ConfigurationError: the YAML has validation errors.
        """
        if isinstance(pipeline, PipelineGlobalConfig):
            text = json.dumps(pipeline.model_dump(mode="json", by_alias=True, exclude_none=True))
            return text, pipeline
        text = pipeline if isinstance(pipeline, str) else json.dumps(dict(pipeline))
        return text, self.loader.load(text)

    async def start(
        self,
        pipeline: str | PipelineGlobalConfig | Mapping[str, Any],
        *,
        init_payload: JSONObject | None = None,
        execution_id: str | None = None,
        skip_init: bool = False,
        seed: SeedCallable | None = None,
        root_correlation_id: str | None = None,
        replay_batch_id: str | None = None,
    ) -> PipelineExecution:
        """Validate `pipeline` and start an execution of it; returns once the init message is out."""
        text, config = self.load(pipeline)
        execution = execution_id or new_id()
        reservation = self.manager.reserve(execution)
        payload = init_payload
        if payload is None and config.init_message is not None:
            payload = dict(config.init_message.payload)
        orchestrator = await self.manager.start(
            reservation,
            build_snapshot(text, config),
            callbacks=self.callbacks,
            skip_init=skip_init,
            seed=seed,
            root_correlation_id=root_correlation_id,
            init_payload=payload,
            config_id=None,
            replay_batch_id=replay_batch_id,
            source="test",
        )
        return PipelineExecution(self, execution, orchestrator, config)

    async def collect(
        self,
        execution_id: str,
        status: FinalStatus,
        error_info: ErrorInfo | None,
        counts: dict[str, int],
        config: PipelineGlobalConfig,
    ) -> PipelineRunResult:
        """Gather what an ended execution left behind (see `PipelineRunResult`)."""
        objects: dict[str, StoredItem] = {}
        async for key in self.storage.list(ExecutionPathResolver.execution_prefix(execution_id)):
            if key.endswith(SIDECAR_SUFFIX):
                continue
            data = await self.storage.read(key)
            try:
                body: Any = json.loads(data)
            except ValueError:
                body = data
            objects[key] = StoredItem(key=key, body=body, sidecar=await self.storage.read_metadata(key))
        lineage: list[JSONObject] = []
        dropped = 0
        if self.recorder is not None and self.repository is not None:
            await self.recorder.flush(execution_id, timeout=10.0)
            dropped = self.recorder.dropped_for(execution_id)
            offset = 0
            while True:
                entries, _total = await self.repository.execution_rows(execution_id, limit=1000, offset=offset)
                rows = [entry.to_api_dict() for entry in entries]
                lineage.extend(rows)
                if len(rows) < 1000:
                    break
                offset += 1000
        dead_letters = {
            queue: await self._read_queue(execution_id, queue)
            for queue in sorted({config.processor_config(route_id).dead_letter_queue for route_id in config.routes})
        }
        events = [(kind, data) for owner, kind, data in self.events.events if owner == execution_id]
        return PipelineRunResult(
            execution_id=execution_id,
            status=status,
            error_info=error_info,
            message_counts=counts,
            objects=objects,
            lineage=lineage,
            dead_letters=dead_letters,
            events=events,
            lineage_dropped=dropped,
            config=config,
        )

    async def _read_queue(self, execution_id: str, queue: str) -> list[QueueMessage]:
        """Every entry of one (DLQ) queue, read through a throwaway consumer group."""
        physical = scoped_queue_name(execution_id, queue)
        depth = await self.queue.depth(physical, _DLQ_READER)
        if depth.ready == 0:
            return []
        collected: list[QueueMessage] = []
        done = asyncio.Event()

        async def handler(message: QueueMessage) -> MessageStatus:
            collected.append(message)
            if len(collected) >= depth.ready:
                done.set()
            return MessageStatus.ACK

        subscription = await self.queue.subscribe(
            physical, _DLQ_READER, handler, prefetch=100, dead_letter_queue=physical + ".unused"
        )
        try:
            async with asyncio.timeout(10.0):
                await done.wait()
        finally:
            await subscription.stop(1.0)
        return collected


async def run_pipeline(
    pipeline: str | PipelineGlobalConfig | Mapping[str, Any],
    *,
    init_payload: JSONObject | None = None,
    adapters: Mapping[str, type[PipelineAdapter]] | None = None,
    workdir: str | Path | None = None,
    timeout: float = 60.0,  # noqa: ASYNC109  # a plain option of a test helper
    options: RuntimeOptions | None = None,
    lineage: bool = True,
) -> PipelineRunResult:
    """Run a pipeline end to end in process and return what it left behind.

    Args:
        pipeline: YAML text (validated exactly as the server validates it), a mapping, or a model.
        init_payload: Replaces the YAML's `init_message.payload`.
        adapters: Extra adapter classes by type name.
        workdir: Where storage and the SQLite database go (a temporary directory by default;
            pass pytest's `tmp_path` to inspect files afterwards).
        timeout: Seconds the execution may take.
        options: Runtime options (short test waits by default).
        lineage: Record lineage rows in SQLite.

    Raises:
        ConfigurationError: the pipeline has validation errors.
        TimeoutError: the execution did not end in time (it is stopped first).
    """
    async with PipelineHarness(workdir=workdir, adapters=adapters, options=options, lineage=lineage) as harness:
        execution = await harness.start(pipeline, init_payload=init_payload)
        return await execution.wait(timeout)
