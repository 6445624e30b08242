"""ReplayService end to end: real manager, execution service, memory queue, filesystem storage, lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factflow_foundation import ExecutionPathResolver
from factflow_replay import ReplayRequest

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
      - {type: counting, stage: b}
      - {type: counting, stage: c}
    outbound:
      - {queue: big, condition: {field: item.n, operator: gte, value: 3}}
      - {queue: small, condition: {field: item.n, operator: lt, value: 3}}
  big:
    inbound: {queue: big}
    adapters: [{type: counting, stage: t}]
  small:
    inbound: {queue: small}
    adapters: [{type: counting, stage: t}]
init_message:
  route: main
  payload: {items: [{n: 0}, {n: 1}, {n: 2}, {n: 3}, {n: 4}]}
"""

# Route names of SOURCE with other queues: resolution must read this snapshot, not SOURCE's.
OTHER = """\
version: "1.0"
name: other
routes:
  main:
    inbound: {queue: other.main}
    adapters:
      - {type: counting, stage: b}
      - {type: set_fields, stage: c, config: {values: {target: other}}}
  big:
    inbound: {queue: other.big}
    adapters:
      - {type: set_fields, config: {values: {target: other}}}
      - {type: counting, stage: t2}
"""


async def run_source(process: Process) -> str:
    source = await process.run(SOURCE)
    assert source.status == "completed", source.error_info
    return source.execution_id


async def test_same_pipeline_replay_mid_chain(world: World, counting: type[Counting]) -> None:
    process = await world.process()
    source_id = await run_source(process)
    source_children = await process.stored(source_id, "main", "b")
    assert len(source_children) == 5
    counting.calls.clear()

    result = await process.replays.submit(source_id, {"from_stage": "b", "tag": "again", "metadata": {"why": "test"}})
    execution = result.execution
    assert execution.source == "replay"
    assert (execution.parent_execution_id, execution.replay_source, execution.tag) == (source_id, "storage", "again")
    assert execution.metadata == {"why": "test"}
    assert result.replay["publish_status"] == "publishing"
    assert (result.route.to_route, result.route.start_at_adapter, result.objects_found) == ("main", 2, 5)

    done = await process.wait(execution.execution_id)
    assert done.status == "completed", done.error_info
    replay_id = done.execution_id
    # Stage b is not run again: only c, then the routes behind main.
    assert sorted(call[2] for call in counting.calls if call[0] == replay_id) == ["c"] * 5 + ["t"] * 5
    outputs = await process.stored(replay_id, "main", "c")
    assert sorted(payload["item"]["n"] for payload in outputs.values()) == [0, 1, 2, 3, 4]
    assert all(payload["seen"] == ["b", "c"] for payload in outputs.values())
    assert len(await process.stored(replay_id, "big", "t")) == 2
    assert len(await process.stored(replay_id, "small", "t")) == 3

    info = done.replay
    assert info is not None
    assert info["publish_status"] == "completed"
    assert (info["objects_found"], info["objects_published"], info["objects_failed"]) == (5, 5, 0)
    assert (info["from_execution_id"], info["from_route"], info["from_stage"], info["mode"]) == (
        source_id,
        "main",
        "b",
        "same_pipeline",
    )
    assert (info["to_route"], info["to_queue"], info["start_at_adapter"]) == ("main", "main.in", 2)
    assert info["replay_batch_id"] == done.replay_batch_id
    assert info["target_config_id"] == done.config_id

    # Lineage: every row of the replay carries the batch; replayed messages point into the parent.
    rows = await process.rows(replay_id)
    assert len(rows) == 10
    assert {row.replay_batch_id for row in rows} == {done.replay_batch_id}
    first_rows = [row for row in rows if row.route_id == "main"]
    assert {row.parent_correlation_id for row in first_rows} == set(source_children)
    batch = await process.lineage.batch(str(done.replay_batch_id))
    assert batch is not None and batch.kind == "replay" and batch.total == 10
    # Sidecars name the source object.
    some_key = next(iter(outputs))
    sidecar = await process.storage.read_metadata(ExecutionPathResolver.output_key(replay_id, "main", "c", some_key))
    assert str(sidecar["original_object_key"]).startswith(f"executions/{source_id}/main/b/")

    events = [event.data for event in process.hub.buffered(replay_id, kind="execution")]
    progress = [event for event in events if event["type"] == "replay.progress"]
    assert progress and progress[-1]["publish_status"] == "completed"
    assert progress[-1]["objects_published"] == 5
    assert [replay.execution_id for replay in (await process.service.replays(source_id)).items] == [replay_id]


async def test_replay_from_the_last_stage_follows_outbound_conditions(
    sqlite_world: World, counting: type[Counting]
) -> None:
    process = await sqlite_world.process()
    source_id = await run_source(process)
    counting.calls.clear()
    execution = await process.replays.replay(source_id, ReplayRequest(from_stage="c"))
    assert execution.replay is not None
    assert (execution.replay["to_route"], execution.replay["to_queue"]) == ("big", "big")
    done = await process.wait(execution.execution_id)
    assert done.status == "completed"
    replay_id = done.execution_id
    assert [call[2] for call in counting.calls if call[0] == replay_id] == ["t"] * 5
    big = await process.stored(replay_id, "big", "t")
    small = await process.stored(replay_id, "small", "t")
    assert sorted(payload["item"]["n"] for payload in big.values()) == [3, 4]
    assert sorted(payload["item"]["n"] for payload in small.values()) == [0, 1, 2]
    assert await process.stored(replay_id, "main", "c") == {}


async def test_cross_pipeline_replay_into_to_route(sqlite_world: World, counting: type[Counting]) -> None:
    process = await sqlite_world.process()
    source_id = await run_source(process)
    counting.calls.clear()
    execution = await process.replays.replay(source_id, {"from_stage": "fan", "to_route": "small"})
    assert execution.replay is not None and execution.replay["mode"] == "cross_pipeline"
    done = await process.wait(execution.execution_id)
    assert done.status == "completed"
    small = await process.stored(done.execution_id, "small", "t")
    # Every split output enters `small` at adapter 0, whatever its `n` (no outbound condition on the way).
    assert sorted(payload["item"]["n"] for payload in small.values()) == [0, 1, 2, 3, 4]
    assert await process.stored(done.execution_id, "main", "c") == {}


async def test_replay_with_config_id_uses_that_snapshot_for_every_queue(
    sqlite_world: World, counting: type[Counting]
) -> None:
    process = await sqlite_world.process()
    source_id = await run_source(process)
    other_id = await process.config(OTHER)

    cross = await process.replays.replay(
        source_id, {"from_stage": "c", "from_route": "main", "to_route": "big", "config_id": other_id}
    )
    assert cross.config_id == other_id and cross.config_name == "other"
    assert cross.replay is not None and cross.replay["to_queue"] == "other.big"
    done = await process.wait(cross.execution_id)
    assert done.status == "completed"
    outputs = await process.stored(done.execution_id, "big", "t2")
    assert len(outputs) == 5 and all(payload["target"] == "other" for payload in outputs.values())

    same = await process.replays.replay(source_id, {"from_stage": "b", "config_id": other_id})
    assert same.replay is not None
    assert (same.replay["to_queue"], same.replay["start_at_adapter"]) == ("other.main", 1)
    done = await process.wait(same.execution_id)
    assert done.status == "completed"
    outputs = await process.stored(done.execution_id, "main", "c")
    assert len(outputs) == 5 and all(payload["target"] == "other" for payload in outputs.values())
    assert not [call for call in counting.calls if call[0] == done.execution_id]  # `b` did not run


async def test_replay_reads_the_parent_snapshot_not_the_live_config(
    sqlite_world: World, counting: type[Counting]
) -> None:
    process = await sqlite_world.process()
    source_id = await run_source(process)
    source = await process.service.get(source_id)
    # The live config changes: stage `b` is gone and the queues are renamed.
    changed = SOURCE.replace("stage: b", "stage: bb").replace("main.in", "renamed.in")
    await process.configs.update(source.config_id, changed)
    execution = await process.replays.replay(source_id, {"from_stage": "b"})
    assert execution.replay is not None and execution.replay["to_queue"] == "main.in"
    done = await process.wait(execution.execution_id)
    assert done.status == "completed"
    assert len(await process.stored(done.execution_id, "main", "c")) == 5


async def test_from_path_selects_by_file_name(sqlite_world: World) -> None:
    process = await sqlite_world.process()
    source_id = await run_source(process)
    chosen = sorted(await process.stored(source_id, "main", "b"))[2]
    execution = await process.replays.replay(source_id, {"from_stage": "b", "from_path": chosen[:20]})
    assert execution.replay is not None and execution.replay["objects_found"] == 1
    done = await process.wait(execution.execution_id)
    assert done.status == "completed"
    (output,) = (await process.stored(done.execution_id, "main", "c")).values()
    rows = await process.rows(done.execution_id)
    assert {row.parent_correlation_id for row in rows if row.route_id == "main"} == {chosen}
    assert output["item"] == (await process.stored(source_id, "main", "b"))[chosen]["item"]
