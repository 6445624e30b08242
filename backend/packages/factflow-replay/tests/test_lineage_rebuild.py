"""Recovery step 5: lineage rows rebuilt from sidecars match what the engine writes."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from factflow_foundation import ExecutionPathResolver
from factflow_replay._lineage_index import LineageIndex
from factflow_replay._lineage_rebuild import rebuild_lineage

if TYPE_CHECKING:
    from conftest import Process, World

FANOUT = """\
version: "1.0"
name: fanout
routes:
  r:
    inbound: {queue: r}
    adapters:
      - {type: counting, stage: before}
      - {type: split, stage: fan, config: {field: items, item_field: item}}
      - {type: counting, stage: after}
init_message:
  route: r
  payload: {items: [{n: 0}, {n: 1}, {n: 2}]}
"""


async def run_without_lineage(process: Process, config_id: str) -> str:
    """Run to completion with every lineage row lost."""
    process.sink.hold()
    execution = await process.service.create(config_id)
    done = await process.wait(execution.execution_id)
    assert done.status == "completed"
    process.sink.held = None
    assert await process.rows(execution.execution_id) == []
    return execution.execution_id


async def rebuild(process: Process, execution_id: str) -> list[tuple[str, str, str | None, dict[str, object]]]:
    execution = await process.executions.get(execution_id)
    index = await LineageIndex.load(process.lineage, execution_id)
    records = await rebuild_lineage(
        execution_id=execution_id,
        config=execution.config_snapshot.config,
        storage=process.storage,
        index=index,
    )
    for record in records:
        process.recorder.record(record)
    assert await process.recorder.flush(execution_id, timeout=5.0)
    return [(record.stage_name, record.correlation_id, record.output_hash, record.metadata) for record in records]


async def test_rebuilt_rows_match_the_engine_rows(sqlite_world: World) -> None:
    process = await sqlite_world.process()
    config_id = await process.config(FANOUT)
    reference = await process.wait((await process.service.create(config_id)).execution_id)
    engine_hashes: dict[str, set[str | None]] = defaultdict(set)
    for row in await process.rows(reference.execution_id):
        engine_hashes[row.stage_name].add(row.output_hash)

    execution_id = await run_without_lineage(process, config_id)
    rebuilt = await rebuild(process, execution_id)
    by_stage: dict[str, list[tuple[str, str | None, dict[str, object]]]] = defaultdict(list)
    for stage, correlation_id, output_hash, metadata in rebuilt:
        by_stage[stage].append((correlation_id, output_hash, metadata))
    assert {stage: len(rows) for stage, rows in by_stage.items()} == {"before": 1, "fan": 1, "after": 3}
    for stage, items in by_stage.items():
        assert {output_hash for _, output_hash, _ in items} == engine_hashes[stage], stage
        assert all(metadata["reconstructed"] is True for _, _, metadata in items)
    ((root, _, fan_metadata),) = by_stage["fan"]
    assert (fan_metadata["result"], fan_metadata["emitted_count"]) == ("emitted", 3)
    written = await process.rows(execution_id)
    assert {row.storage_key for row in written if row.stage_name == "fan"} == {
        ExecutionPathResolver.manifest_key(execution_id, "r", "fan", root)
    }
    assert all(row.stage_status == "completed" for row in written)
    # Rebuilding again finds every row in place.
    assert await rebuild(process, execution_id) == []


async def test_children_without_their_manifest_get_no_row(sqlite_world: World) -> None:
    process = await sqlite_world.process()
    execution_id = await run_without_lineage(process, await process.config(FANOUT))
    manifests = [key async for key in process.storage.list(f"executions/{execution_id}/r/fan/") if "fanout" in key]
    assert len(manifests) == 1
    await process.storage.delete(manifests[0])  # as if the process died between children and manifest
    stages = sorted(stage for stage, *_ in await rebuild(process, execution_id))
    assert stages == ["after", "after", "after", "before"]
