"""Real processes for replay and recovery tests: manager, services, lineage, queue and storage.

A `Process` is what one server process holds. Tests start one, run executions, and may
`crash()` it: its orchestrators stop with no final status written (rows stay `running`),
lineage rows it still buffered are lost, and its queue provider is abandoned. A second
`Process` on the same database and storage (and the same Redis) then recovers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from factflow_builtins import (
    DelayAdapter,
    FailAdapter,
    FilterAdapter,
    PassthroughAdapter,
    SetFieldsAdapter,
    SplitAdapter,
)
from factflow_engine._ports import FinalStatus, OrchestratorCallbacks
from factflow_engine.config import ConfigSnapshot, PipelineConfigLoader
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import (
    EngineLimits,
    EngineWiring,
    ExecutionReservation,
    OrchestratorManager,
    RuntimeOptions,
)
from factflow_engine.testing import TEST_OPTIONS
from factflow_execution import (
    ExecutionEventHub,
    ExecutionService,
    ExecutionStores,
    ExecutionWaiter,
    PipelineConfigService,
    PipelineExecution,
    PipelineExecutionRepository,
    PipelineExecutionRow,
)
from factflow_infra.database import create_database_engine, create_session_factory, run_migrations
from factflow_infra.queue import MemoryQueueProvider, RedisStreamsQueueProvider
from factflow_infra.storage import FilesystemStorageProvider
from factflow_infra.testing.plugin import database_url, db_engine, redis_db, redis_url, sqlite_database_url
from factflow_lineage import LineageRecorder, LineageRepository, PipelineLineageEntry
from factflow_protocols import AdapterResult, ErrorInfo, LineageRecord, PipelineAdapter, PipelineContext, QueueProtocol
from factflow_replay import RecoveryManager, Reinjector, ReplayService, compose_runtime

__all__ = ("database_url", "db_engine", "redis_db", "redis_url", "sqlite_database_url")

Call = tuple[str, str, str, str]
"""(execution_id, route_id, stage, correlation_id) of one adapter invocation."""


# ---------------------------------------------------------------- adapters


class Counting(PipelineAdapter):
    """Passes its input on with its stage appended to `seen`, recording every invocation.

    A message whose `hold` (top level, or inside `item`) names the stage waits for `gate`.
    """

    adapter_type: ClassVar[str] = "counting"
    calls: ClassVar[list[Call]] = []
    running: ClassVar[set[Call]] = set()
    gate: ClassVar[asyncio.Event | None] = None
    _changed: ClassVar[asyncio.Event | None] = None

    @classmethod
    def reset(cls) -> None:
        cls.calls = []
        cls.running = set()
        cls.gate = asyncio.Event()
        cls._changed = asyncio.Event()

    @classmethod
    def _notify(cls) -> None:
        if cls._changed is not None:
            cls._changed.set()
            cls._changed = asyncio.Event()

    @classmethod
    async def wait_for(cls, predicate: Callable[[], bool], *, within: float = 15.0) -> None:
        """Wait (on change notifications, not a poll) until `predicate()` holds."""
        async with asyncio.timeout(within):
            while not predicate():
                assert cls._changed is not None
                await cls._changed.wait()

    @classmethod
    def count(cls, execution_id: str | None = None, *, stage: str | None = None) -> int:
        return sum(
            1
            for call in cls.calls
            if (execution_id is None or call[0] == execution_id) and (stage is None or call[2] == stage)
        )

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        call = (context.execution_id, context.route_id, context.stage_name, context.correlation_id)
        type(self).calls.append(call)
        type(self).running.add(call)
        type(self)._notify()
        try:
            message = dict(context.message)
            item = message.get("item")
            hold = message.get("hold") or (item.get("hold") if isinstance(item, dict) else None)
            gate = type(self).gate
            if hold == context.stage_name and gate is not None:
                await gate.wait()
            message["seen"] = [*message.get("seen", []), context.stage_name]
            return AdapterResult(message=message)
        finally:
            type(self).running.discard(call)
            type(self)._notify()


def build_registry() -> ValidatingAdapterRegistry:
    registry = ValidatingAdapterRegistry()
    for cls in (
        PassthroughAdapter,
        SplitAdapter,
        FilterAdapter,
        SetFieldsAdapter,
        DelayAdapter,
        FailAdapter,
        Counting,
    ):
        registry.register(cls, name=cls.adapter_type)
    return registry


@pytest.fixture
def registry() -> ValidatingAdapterRegistry:
    """Built-in adapters plus `counting`."""
    return build_registry()


@pytest.fixture
def snapshot_of(registry: ValidatingAdapterRegistry) -> Callable[[str], ConfigSnapshot]:
    """A `ConfigSnapshot` of a pipeline text (only its parsed `config`)."""
    loader = PipelineConfigLoader(registry)

    def build(text: str) -> ConfigSnapshot:
        return ConfigSnapshot.model_validate({"config": loader.load(text).model_dump(by_alias=True, mode="json")})

    return build


@pytest.fixture(autouse=True)
def counting() -> type[Counting]:
    Counting.reset()
    return Counting


# ---------------------------------------------------------------- crash doubles


class HoldingSink:
    """Lineage sink in front of the recorder: while holding, rows wait here and die with a crash."""

    def __init__(self, recorder: LineageRecorder) -> None:
        self.recorder = recorder
        self.held: list[LineageRecord] | None = None
        self.dead = False

    def record(self, entry: LineageRecord) -> None:
        if self.dead:
            return
        if self.held is None:
            self.recorder.record(entry)
        else:
            self.held.append(entry)

    def hold(self) -> None:
        """From now on rows stay buffered here (the recorder's buffer, as a crash would find it)."""
        self.held = []

    def release(self, count: int) -> None:
        """Write the oldest `count` held rows (what the recorder had flushed before the crash)."""
        held = self.held or []
        for entry in held[:count]:
            self.recorder.record(entry)
        del held[:count]

    def die(self) -> int:
        """Lose every held row and record nothing more; returns how many were lost."""
        lost = len(self.held or [])
        self.held = None
        self.dead = True
        return lost


class _CrashableCallbacks:
    def __init__(self, inner: OrchestratorCallbacks, manager: CrashableManager) -> None:
        self.inner = inner
        self.manager = manager

    async def on_started(self, execution_id: str) -> None:
        await self.inner.on_started(execution_id)

    async def on_stopped(
        self, execution_id: str, status: FinalStatus, error_info: ErrorInfo | None, message_counts: dict[str, int]
    ) -> None:
        if not self.manager.crashed:  # a dead process writes no final status
            await self.inner.on_stopped(execution_id, status, error_info, message_counts)


class CrashableManager:
    """The execution service's view of the manager; `crash()` stops everything without final statuses."""

    def __init__(self, inner: OrchestratorManager) -> None:
        self.inner = inner
        self.crashed = False

    def reserve(self, execution_id: str) -> ExecutionReservation:
        return self.inner.reserve(execution_id)

    async def reserve_when_free(self, execution_id: str) -> ExecutionReservation:
        return await self.inner.reserve_when_free(execution_id)

    async def start(
        self, reservation: Any, snapshot: ConfigSnapshot, *, callbacks: OrchestratorCallbacks, **kwargs: Any
    ) -> Any:
        return await self.inner.start(reservation, snapshot, callbacks=_CrashableCallbacks(callbacks, self), **kwargs)

    def is_live(self, execution_id: str) -> bool:
        return self.inner.is_live(execution_id)

    def cancel(self, execution_id: str) -> bool:
        return self.inner.cancel(execution_id)

    def message_counts(self, execution_id: str) -> Any:
        return self.inner.message_counts(execution_id)

    def route_statuses(self, execution_id: str) -> Any:
        return self.inner.route_statuses(execution_id)

    async def crash(self) -> None:
        self.crashed = True
        await self.inner.shutdown(0)


# ---------------------------------------------------------------- one process

QueueKind = Literal["memory", "redis"]


@dataclass
class Process:
    """The components of one server process, wired as the server wires them (docs/guides/deployment.md)."""

    engine: AsyncEngine
    queue: QueueProtocol
    storage: FilesystemStorageProvider
    recorder: LineageRecorder
    sink: HoldingSink
    hub: ExecutionEventHub
    manager: OrchestratorManager
    crashable: CrashableManager
    configs: PipelineConfigService
    executions: PipelineExecutionRepository
    lineage: LineageRepository
    service: ExecutionService
    replays: ReplayService
    reinjector: Reinjector
    recovery: RecoveryManager
    closed: bool = False

    async def config(self, text: str) -> str:
        return (await self.configs.create(text)).config_id

    async def wait(self, execution_id: str, within: float = 30.0) -> PipelineExecution:
        result = await ExecutionWaiter(execution_id, service=self.service, hub=self.hub).wait(within)
        assert result.completed, f"{execution_id} still {result.status} after {within}s"
        return await self.service.get(execution_id)

    async def run(self, config_text: str, **kwargs: Any) -> PipelineExecution:
        """Create an execution of `config_text` and wait for its final status."""
        config_id = await self.config(config_text)
        execution = await self.service.create(config_id, **kwargs)
        return await self.wait(execution.execution_id)

    async def rows(self, execution_id: str) -> list[PipelineLineageEntry]:
        await self.recorder.flush(execution_id, timeout=5.0)
        rows, _ = await self.lineage.execution_rows(execution_id, limit=10_000)
        return list(rows)

    async def execution_count(self) -> int:
        sessions = create_session_factory(self.engine)
        async with sessions() as session:
            return int((await session.execute(select(func.count()).select_from(PipelineExecutionRow))).scalar_one())

    async def stored(self, execution_id: str, route_id: str, stage: str) -> dict[str, dict[str, Any]]:
        """Stage outputs by message id."""
        prefix = f"executions/{execution_id}/{route_id}/{stage}/"
        found: dict[str, dict[str, Any]] = {}
        async for key in self.storage.list(prefix):
            name = key[len(prefix) :]
            if "/" in name or not name.endswith(".json") or name.endswith(".fanout.json"):
                continue
            found[name[: -len(".json")]] = json.loads(await self.storage.read(key))
        return found

    async def crash(self) -> int:
        """Die: no final statuses, buffered lineage lost, queue abandoned. Returns the rows lost."""
        await self.crashable.crash()
        lost = self.sink.die()
        await self._release()
        return lost

    async def close(self) -> None:
        if self.closed:
            return
        self.hub.begin_shutdown()
        await self.recovery.shutdown()
        await self.manager.shutdown(0)
        await self._release()

    async def _release(self) -> None:
        self.closed = True
        await self.hub.shutdown()
        await self.recorder.shutdown(timeout=5.0)
        await self.queue.close()
        await self.storage.shutdown()


@dataclass
class World:
    """What survives a crash: the database, the storage root and (in Redis mode) Redis."""

    engine: AsyncEngine
    storage_root: Path
    queue_kind: QueueKind = "memory"
    redis_url: str | None = None
    processes: list[Process] = field(default_factory=list)

    async def process(
        self,
        *,
        max_concurrent_executions: int = 4,
        recovery_enabled: bool = True,
        max_attempts: int = 3,
        options: RuntimeOptions = TEST_OPTIONS,
    ) -> Process:
        if self.queue_kind == "redis":
            # Route sampling off: cancelling a task inside a Redis call on the provider's blocking
            # pool can lose the cancellation (an infra issue, reported), which would hang the
            # crash's route stop. Completion and stall detection do not depend on sampling.
            options = replace(options, sample_interval_seconds=3600.0)
            assert self.redis_url is not None
            queue: QueueProtocol = RedisStreamsQueueProvider(self.redis_url, visibility_timeout_seconds=1.0)
        else:
            queue = MemoryQueueProvider(redelivery_delay_seconds=0.2)
        await queue.connect()
        storage = FilesystemStorageProvider(self.storage_root)
        await storage.start()
        recorder = LineageRecorder(self.engine, flush_interval_ms=20)
        await recorder.start()
        registry = build_registry()
        sink = HoldingSink(recorder)
        crashable: CrashableManager | None = None

        def crash_view(manager: OrchestratorManager) -> CrashableManager:
            nonlocal crashable
            crashable = CrashableManager(manager)
            return crashable

        runtime = compose_runtime(
            engine=EngineWiring(
                queue=queue,
                storage=storage,
                adapters=registry,
                lineage=sink,
                limits=EngineLimits(
                    max_concurrent_executions=max_concurrent_executions, shutdown_grace_seconds=1.0, options=options
                ),
            ),
            stores=ExecutionStores.open(create_session_factory(self.engine)),
            loader=PipelineConfigLoader(registry),
            recorder=recorder,
            recovery_enabled=recovery_enabled,
            recovery_max_attempts=max_attempts,
            replay_progress_interval_seconds=0.05,
            manager_view=crash_view,
        )
        assert crashable is not None
        execution = runtime.execution
        process = Process(
            engine=self.engine,
            queue=queue,
            storage=storage,
            recorder=recorder,
            sink=sink,
            hub=execution.hub,
            manager=execution.manager,
            crashable=crashable,
            configs=execution.config_service,
            executions=execution.stores.executions,
            lineage=execution.stores.lineage,
            service=execution.service,
            replays=runtime.replays,
            reinjector=runtime.reinjector,
            recovery=runtime.recovery,
        )
        self.processes.append(process)
        return process

    async def close(self) -> None:
        for process in reversed(self.processes):
            await process.close()


async def _world(engine: AsyncEngine, tmp_path: Path, kind: QueueKind, url: str | None) -> AsyncIterator[World]:
    world = World(engine=engine, storage_root=tmp_path / "storage", queue_kind=kind, redis_url=url)
    try:
        yield world
    finally:
        if Counting.gate is not None:
            Counting.gate.set()
        await world.close()


@pytest.fixture
async def world(db_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[World]:
    """Memory queue, filesystem storage, lineage on SQLite and on PostgreSQL."""
    async for value in _world(db_engine, tmp_path, "memory", None):
        yield value


@pytest.fixture
async def sqlite_world(sqlite_database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    """Memory queue, filesystem storage, SQLite only (tests whose subject is not the database)."""
    engine = create_database_engine(sqlite_database_url)
    await run_migrations(engine)
    try:
        async for value in _world(engine, tmp_path, "memory", None):
            yield value
    finally:
        await engine.dispose()


@pytest.fixture
async def redis_world(redis_url: str, sqlite_database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    """Redis Streams (own test database), filesystem storage, SQLite."""
    engine = create_database_engine(sqlite_database_url)
    await run_migrations(engine)
    try:
        async for value in _world(engine, tmp_path, "redis", redis_url):
            yield value
    finally:
        await engine.dispose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def queue_world(request: pytest.FixtureRequest) -> World:
    """`sqlite_world` and `redis_world`: the same test over both queue providers."""
    world: World = request.getfixturevalue("sqlite_world" if request.param == "memory" else "redis_world")
    return world


# ---------------------------------------------------------------- small helpers


def completed_rows(rows: Sequence[PipelineLineageEntry], route_id: str, stage: str) -> dict[str, int]:
    """Completed rows per correlation id at one stage."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.route_id == route_id and row.stage_name == stage and row.stage_status == "completed":
            counts[row.correlation_id] = counts.get(row.correlation_id, 0) + 1
    return counts
