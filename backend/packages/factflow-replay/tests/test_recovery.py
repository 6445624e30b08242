"""Start-up recovery after a crashed process, in process: memory queue (re-injection) and the triage rules."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from factflow_engine.config import ConfigSnapshot
from factflow_engine.runtime import TooManyConcurrentExecutionsError
from factflow_execution import ConfigSourceType, PipelineExecution, StoredSnapshot, build_snapshot
from factflow_foundation import new_id
from factflow_infra.testing import wait_until

if TYPE_CHECKING:
    from conftest import Call, Counting, Process, World

CRASHY = """\
version: "1.0"
name: crashy
error_handling: {tolerated_failures: 1, max_retries: 0}
routes:
  fan:
    inbound: {queue: fan.in}
    adapters:
      - {type: split, config: {field: items, item_field: item}}
    outbound: [{queue: work}]
  work:
    inbound: {queue: work, concurrency: 2}
    adapters:
      - {type: fail, stage: boom, condition: {field: item.n, operator: eq, value: 5}, config: {retryable: false}}
      - {type: counting, stage: first}
      - {type: counting, stage: second}
    outbound: [{queue: sink}]
  sink:
    inbound: {queue: sink}
    adapters: [{type: counting, stage: last}]
init_message:
  route: fan
  payload:
    items: [{n: 0}, {n: 1}, {n: 2, hold: second}, {n: 3}, {n: 4, hold: last}, {n: 5}]
"""

STAGES = (("work", "first"), ("work", "second"), ("sink", "last"))


@dataclass(frozen=True)
class Crash:
    execution_id: str
    blocked: set[Call]
    """Invocations waiting on the gate when the process died."""
    stored: set[Call]
    """(execution, route, stage, message) whose output was stored when the process died."""


async def stored_calls(process: Process, execution_id: str) -> set[Call]:
    return {
        (execution_id, route_id, stage, message_id)
        for route_id, stage in STAGES
        for message_id in await process.stored(execution_id, route_id, stage)
    }


async def crash_mid_run(process: Process, counting: type[Counting]) -> Crash:
    """Run CRASHY until both holders block, then crash with half the lineage rows unwritten."""
    process.sink.hold()
    execution = await process.service.create(await process.config(CRASHY))
    await counting.wait_for(
        lambda: counting.count(stage="second") == 5 and {call[2] for call in counting.running} == {"second", "last"}
    )
    blocked = set(counting.running)
    assert process.sink.held is not None
    process.sink.release(len(process.sink.held) // 2)
    assert await process.crash() > 0
    return Crash(execution.execution_id, blocked, await stored_calls(process, execution.execution_id))


async def check_recovered_run(process: Process, crash: Crash, counting: type[Counting]) -> None:
    """Every item accounted for exactly once; no completed stage ran again; lineage agrees with storage."""
    execution_id = crash.execution_id
    done = await process.wait(execution_id)
    assert done.status == "completed", done.error_info
    assert done.recovery_count == 1 and done.recovered_at is not None
    assert done.message_counts is not None and done.message_counts["dead_lettered"] == 1
    # A stage whose output was stored never ran again; the blocked invocations ran exactly twice;
    # an invocation that returned but had not stored its output yet may have run twice too.
    calls = Counter(call for call in counting.calls if call[0] == execution_id)
    assert crash.blocked and not crash.blocked & crash.stored
    assert {call: calls[call] for call in crash.blocked} == dict.fromkeys(crash.blocked, 2)
    assert {call: calls[call] for call in crash.stored} == dict.fromkeys(crash.stored, 1)
    assert max(calls.values()) == 2
    assert sum(1 for call in calls if call[2] == "last") == 5
    # Storage: one output per item and stage; lineage: exactly one completed row for each.
    rows = await process.rows(execution_id)
    for route_id, stage in STAGES:
        stored = await process.stored(execution_id, route_id, stage)
        items = sorted(payload["item"]["n"] for payload in stored.values())
        assert items == [0, 1, 2, 3, 4], (route_id, stage, items)
        completed = Counter(
            row.correlation_id
            for row in rows
            if (row.route_id, row.stage_name, row.stage_status) == (route_id, stage, "completed")
        )
        assert completed == Counter(set(stored)), (route_id, stage)
    failed = [row for row in rows if row.stage_status == "failed"]
    assert len(failed) == 1 and failed[0].entry_metadata["dead_lettered"] is True
    assert not [row for row in rows if row.stage_status in ("pending", "processing")]
    reconstructed = [row for row in rows if row.entry_metadata.get("reconstructed")]
    assert reconstructed and all(row.stage_status == "completed" for row in reconstructed)
    (record,) = done.metadata["recovery"]
    assert record["attempt"] == 1
    assert record["lineage_reconstructed"] == len(reconstructed)
    assert process.recovery.records[execution_id].as_dict() == record
    # The route counters kept through the crash, the rebuilt rows and the closed ones equal the
    # aggregation over the rows; the counts frozen at the end are theirs.
    counted = await process.lineage.route_counters(execution_id)
    assert counted == await process.lineage.route_message_counts(execution_id)
    assert done.route_counts is not None
    frozen = {route_id: (c["total_messages"], c["failed"], c["cancelled"]) for route_id, c in done.route_counts.items()}
    assert frozen == {c.route_id: (c.total_messages, c.failed, c.cancelled) for c in counted.values()}


async def test_crash_in_memory_mode_reinjects_and_rebuilds_lineage(world: World, counting: type[Counting]) -> None:
    crashed = await world.process()
    crash = await crash_mid_run(crashed, counting)
    execution_id = crash.execution_id
    assert (await crashed.executions.get(execution_id)).status == "running"  # nobody wrote a final status

    recovering = await world.process()
    assert counting.gate is not None
    counting.gate.set()
    report = await recovering.recovery.recover_all()
    assert report.interrupted == (execution_id,)
    assert report.resumed == (execution_id,)
    assert report.recovery_failed == report.backlog == ()
    await check_recovered_run(recovering, crash, counting)
    record = (await recovering.executions.get(execution_id)).metadata["recovery"][0]
    assert record["mode"] == "reinjection"
    assert record["reclaimed"] == 0
    assert record["reinjected"] >= 2  # at least both holders


@pytest.mark.redis
async def test_crash_in_redis_mode_claims_the_dead_consumers_entries(
    redis_world: World, counting: type[Counting]
) -> None:
    crashed = await redis_world.process()
    crash = await crash_mid_run(crashed, counting)
    recovering = await redis_world.process()
    assert counting.gate is not None
    report = await recovering.recovery.recover_all()
    assert report.resumed == (crash.execution_id,)
    # The holders stay blocked until the seed has counted the pending entries: a reclaimed
    # delivery that settled first would no longer be pending when the seed looks.
    await wait_until(lambda: crash.execution_id in recovering.recovery.records, within=15, what="the seed's record")
    counting.gate.set()
    await check_recovered_run(recovering, crash, counting)
    record = (await recovering.executions.get(crash.execution_id)).metadata["recovery"][0]
    assert record["mode"] == "redis"
    assert record["reinjected"] == 0
    assert record["reclaimed"] >= 2  # both blocked deliveries were pending on the dead consumer


async def test_replay_execution_recovers_its_publisher_messages(queue_world: World, counting: type[Counting]) -> None:
    world = queue_world
    mode = "redis" if world.queue_kind == "redis" else "reinjection"
    first = await world.process()
    assert counting.gate is not None
    counting.gate.set()
    source = await first.run(CRASHY)
    assert source.status == "completed"
    counting.gate = asyncio.Event()  # the holders of the replay wait again
    first.sink.hold()
    replay = await first.replays.replay(source.execution_id, {"from_stage": "first"})
    await counting.wait_for(
        lambda: (
            counting.count(replay.execution_id, stage="second") == 5
            and {call[2] for call in counting.running} == {"second", "last"}
        )
    )
    blocked = set(counting.running)
    # The crash hits while the row still says `publishing`: the state of a publisher cut short.
    assert replay.replay is not None
    await first.executions.update_replay(
        replay.execution_id, {**replay.replay, "publish_status": "publishing", "objects_published": 2}
    )
    await first.crash()
    stored = await stored_calls(first, replay.execution_id)

    second = await world.process()
    counting.gate.set()
    report = await second.recovery.recover_all()
    assert report.resumed == (replay.execution_id,)
    done = await second.wait(replay.execution_id)
    assert done.status == "completed", done.error_info
    calls = Counter(call for call in counting.calls if call[0] == replay.execution_id)
    assert {call: calls[call] for call in stored} == dict.fromkeys(stored, 1)
    assert {call: calls[call] for call in blocked} == dict.fromkeys(blocked, 2)
    assert max(calls.values()) == 2
    assert len(await second.stored(replay.execution_id, "sink", "last")) == 5
    assert done.replay is not None
    assert (done.replay["publish_status"], done.replay["objects_published"]) == ("completed", 5)
    rows = await second.rows(replay.execution_id)
    assert {row.replay_batch_id for row in rows} == {done.replay_batch_id}
    assert done.metadata["recovery"][0]["mode"] == mode


# ---------------------------------------------------------------- triage


async def insert_running(
    process: Process, config_text: str, *, recovery_count: int = 0, cancel_requested: bool = False, **snapshot: Any
) -> str:
    config, parsed = await process.configs.run_gate(await process.config(config_text))
    built = build_snapshot(config, parsed).model_dump()
    built["config"] = {**built["config"], **snapshot}
    execution = await process.executions.insert(
        PipelineExecution(
            execution_id=new_id(),
            config_id=config.config_id,
            config_name=config.name,
            config_version=config.version,
            status="running",
            source=ConfigSourceType.API,
            started_at=datetime.now(UTC),
            stored_snapshot=StoredSnapshot(ConfigSnapshot.model_validate(built)),
            root_correlation_id=new_id(),
            init_payload={"items": [{"n": 1}]},
            recovery_count=recovery_count,
            cancel_requested=cancel_requested,
        )
    )
    return execution.execution_id


async def test_max_attempts_unbuildable_snapshots_and_accepted_cancels(sqlite_world: World) -> None:
    process = await sqlite_world.process(max_attempts=2)
    exhausted = await insert_running(process, CRASHY, recovery_count=2)
    routes = (await process.executions.get(exhausted)).config_snapshot.model_dump()["config"]["routes"]
    broken_routes = {
        **routes,
        "sink": {**routes["sink"], "adapters": [{**routes["sink"]["adapters"][0], "type": "gone_adapter"}]},
    }
    unbuildable = await insert_running(process, CRASHY, routes=broken_routes)
    cancelled = await insert_running(process, CRASHY, cancel_requested=True)
    fine = await insert_running(process, CRASHY)

    report = await process.recovery.recover_all()
    assert set(report.interrupted) == {exhausted, unbuildable, cancelled, fine}
    assert report.recovery_failed == (exhausted, unbuildable)
    assert report.cancelled == (cancelled,)
    assert report.resumed == (fine,)
    for execution_id, needle in ((exhausted, "recovered 2 time(s)"), (unbuildable, "gone_adapter")):
        row = await process.executions.get(execution_id)
        assert row.status == "interrupted"
        assert row.error_info is not None and row.error_info["code"] == "recovery_failed"
        assert needle in row.error_info["message"]
    assert (await process.executions.get(cancelled)).status == "cancelled"
    done = await process.wait(fine)
    assert done.status == "completed" and done.recovery_count == 1
    assert done.metadata["recovery"][0]["mode"] == "reinjection"
    assert done.metadata["recovery"][0]["reinjected"] == 1  # the init message: it never ran


async def test_recovery_disabled_only_interrupts(sqlite_world: World) -> None:
    process = await sqlite_world.process(recovery_enabled=False)
    execution_id = await insert_running(process, CRASHY)
    report = await process.recovery.recover_all()
    assert not report.enabled
    assert report.interrupted == (execution_id,) and report.resumed == ()
    row = await process.executions.get(execution_id)
    assert (row.status, row.recovery_count, row.error_info) == ("interrupted", 0, None)
    assert process.manager.live_execution_ids() == []


async def test_backlog_takes_freed_slots_before_new_starts(sqlite_world: World, counting: type[Counting]) -> None:
    crashed = await sqlite_world.process()
    items = "{n: 0}, {n: 1}, {n: 2, hold: second}, {n: 3}, {n: 4, hold: last}, {n: 5}"
    gated = CRASHY.replace(items, "{n: 0, hold: first}")
    older = await crashed.service.create(await crashed.config(gated))
    newer = await crashed.service.create(await crashed.config(gated))
    await counting.wait_for(lambda: len(counting.running) == 2)
    await crashed.crash()

    process = await sqlite_world.process(max_concurrent_executions=1)
    report = await process.recovery.recover_all()
    assert report.resumed == (older.execution_id,)
    assert report.backlog == (newer.execution_id,)
    assert (await process.executions.get(newer.execution_id)).status == "interrupted"
    with pytest.raises(TooManyConcurrentExecutionsError):
        process.manager.reserve(new_id())  # the backlog is ahead of new starts
    assert counting.gate is not None
    counting.gate.set()
    assert (await process.wait(older.execution_id)).status == "completed"
    await process.recovery.join()
    done = await process.wait(newer.execution_id)
    assert done.status == "completed" and done.recovery_count == 1
    assert len(await process.stored(newer.execution_id, "sink", "last")) == 1
