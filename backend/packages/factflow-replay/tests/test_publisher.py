"""ReplayPublisher as a seed task: deterministic re-runs, vanished objects, nothing published."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from factflow_engine.runtime import SeedContext
from factflow_execution import ConfigSourceType, PipelineExecution
from factflow_foundation import ExecutionPathResolver, new_id
from factflow_replay import ReplayPublisher, RouteResolver

if TYPE_CHECKING:
    from conftest import Counting, Process, World

SOURCE = """\
version: "1.0"
name: source
routes:
  main:
    inbound: {queue: main.in}
    adapters:
      - {type: split, stage: fan, config: {field: items, item_field: item}}
      - {type: counting, stage: c}
    outbound: [{queue: tail}]
  tail:
    inbound: {queue: tail}
    adapters: [{type: counting, stage: t}]
init_message:
  route: main
  payload: {items: [{n: 0}, {n: 1}, {n: 2}, {n: 3}, {n: 4}]}
"""

Seed = Callable[[ReplayPublisher], Callable[[SeedContext], Awaitable[None]]]


async def start_replay(
    process: Process, source_id: str, seed: Seed, *, extra_keys: tuple[str, ...] = (), only_extra: bool = False
) -> tuple[PipelineExecution, ReplayPublisher]:
    """A replay row of `fan` outputs, started with `seed(publisher)` as its seed."""
    source = await process.service.get(source_id)
    route = RouteResolver(source.config_snapshot).resolve(source_execution_id=source_id, from_stage="fan")
    execution_id, batch = new_id(), new_id()
    info: dict[str, Any] = {
        "from_execution_id": source_id,
        "from_route": "main",
        "from_stage": "fan",
        "from_path": None,
        "mode": "same_pipeline",
        "to_route": route.to_route,
        "to_queue": route.to_queue,
        "start_at_adapter": route.start_at_adapter,
        "target_config_id": source.config_id,
        "replay_batch_id": batch,
        "objects_found": 0,
        "objects_published": 0,
        "objects_failed": 0,
        "publish_status": "publishing",
    }
    reservation = process.manager.reserve(execution_id)
    row = await process.executions.insert(
        PipelineExecution(
            execution_id=execution_id,
            config_id=source.config_id,
            config_name=source.config_name,
            config_version=source.config_version,
            status="running",
            source=ConfigSourceType.REPLAY,
            started_at=datetime.now(UTC),
            stored_snapshot=source.stored_snapshot,
            parent_execution_id=source_id,
            replay_batch_id=batch,
            replay_source="storage",
            replay=info,
        )
    )
    rebuilt = await ReplayPublisher.for_execution(row, storage=process.storage, executions=process.executions)
    keys = extra_keys if only_extra else (*rebuilt.keys, *extra_keys)
    publisher = ReplayPublisher(
        route=rebuilt.route, keys=keys, replay_batch_id=batch, executions=process.executions, replay_info=info
    )
    await process.service.launcher.launch(row, reservation, skip_init=True, seed=seed(publisher))
    return row, publisher


def once(publisher: ReplayPublisher) -> Callable[[SeedContext], Awaitable[None]]:
    return publisher


def twice(publisher: ReplayPublisher) -> Callable[[SeedContext], Awaitable[None]]:
    async def seed(context: SeedContext) -> None:
        await publisher(context)
        await publisher(context)  # a re-run, as after a crash: same ids, all deduplicated

    return seed


async def test_running_the_publisher_again_publishes_nothing_twice(
    sqlite_world: World, counting: type[Counting]
) -> None:
    process = await sqlite_world.process()
    source = await process.run(SOURCE)
    row, publisher = await start_replay(process, source.execution_id, twice)
    assert len(publisher.keys) == 5
    done = await process.wait(row.execution_id)
    assert done.status == "completed"
    calls = [call for call in counting.calls if call[0] == row.execution_id]
    assert sorted(call[2] for call in calls) == ["c"] * 5 + ["t"] * 5
    assert len({call[3] for call in calls if call[2] == "c"}) == 5
    assert done.message_counts is not None and done.message_counts["published"] == 10
    assert done.replay is not None
    assert (done.replay["objects_found"], done.replay["objects_published"], done.replay["publish_status"]) == (
        5,
        5,
        "completed",
    )


async def test_a_vanished_object_is_a_failed_message(sqlite_world: World) -> None:
    process = await sqlite_world.process()
    source = await process.run(SOURCE)
    gone = ExecutionPathResolver.output_key(source.execution_id, "main", "fan", new_id())
    row, _ = await start_replay(process, source.execution_id, once, extra_keys=(gone,))
    done = await process.wait(row.execution_id)
    assert done.status == "completed"
    assert done.replay is not None
    assert (done.replay["objects_found"], done.replay["objects_published"], done.replay["objects_failed"]) == (6, 5, 1)
    assert len(await process.stored(row.execution_id, "tail", "t")) == 5


async def test_nothing_published_fails_the_execution(sqlite_world: World) -> None:
    process = await sqlite_world.process()
    source = await process.run(SOURCE)
    gone = tuple(ExecutionPathResolver.output_key(source.execution_id, "main", "fan", new_id()) for _ in range(2))
    row, _ = await start_replay(process, source.execution_id, once, extra_keys=gone, only_extra=True)
    done = await process.wait(row.execution_id)
    assert done.status == "failed"
    assert done.error_info is not None and done.error_info["code"] == "replay_publish_failed"
    assert done.replay is not None
    assert (done.replay["objects_failed"], done.replay["publish_status"]) == (2, "failed")
