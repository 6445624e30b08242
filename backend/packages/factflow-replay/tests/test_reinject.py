"""The Reinjector as the orchestrator's stall reconciler: queue entries lost under a live execution."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

from factflow_engine.config import ConfigSnapshot
from factflow_engine.runtime import scoped_queue_name
from factflow_engine.testing import TEST_OPTIONS
from factflow_replay._reinject import route_order

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Counting, Process, World

STALLING = """\
version: "1.0"
name: stalling
routes:
  one:
    inbound: {queue: q1}
    adapters:
      - {type: split, config: {field: items, item_field: item}}
      - {type: counting, stage: a, storage: {enabled: STORED}}
    outbound: [{queue: q2}]
  two:
    inbound: {queue: q2, prefetch: 1}
    adapters: [{type: counting, stage: b}]
init_message:
  route: one
  payload: {items: [{n: 0, hold: b}, {n: 1}, {n: 2}, {n: 3}]}
"""

FAST_STALL = replace(TEST_OPTIONS, stall_check_interval_seconds=0.05, stall_timeout_seconds=0.2)


async def lose_queued_messages(world: World, counting: type[Counting], stored: bool) -> tuple[Process, str]:
    """Run STALLING until `two` holds its first message, then delete `q2` under it."""
    process = await world.process(options=FAST_STALL)
    execution = await process.service.create(await process.config(STALLING.replace("STORED", str(stored).lower())))
    await counting.wait_for(lambda: counting.count(stage="a") == 4 and len(counting.running) == 1)
    lost = await process.queue.delete_queues([scoped_queue_name(execution.execution_id, "q2")])
    assert lost == 1
    assert counting.gate is not None
    counting.gate.set()
    return process, execution.execution_id


async def test_stalled_execution_gets_its_lost_messages_back(sqlite_world: World, counting: type[Counting]) -> None:
    process, execution_id = await lose_queued_messages(sqlite_world, counting, stored=True)
    done = await process.wait(execution_id)
    assert done.status == "completed", done.error_info
    b_calls = Counter(call[3] for call in counting.calls if call[2] == "b")
    assert len(b_calls) == 4 and set(b_calls.values()) == {1}  # each message once, none twice
    assert len(await process.stored(execution_id, "two", "b")) == 4
    rows = await process.rows(execution_id)
    reinjected = {row.correlation_id for row in rows if row.route_id == "two" and row.entry_metadata.get("recovered")}
    assert reinjected  # the lost ones came back through re-injection
    assert done.message_counts is not None and done.message_counts["in_flight"] == 0


async def test_lost_messages_of_a_producer_without_storage_are_failures(
    sqlite_world: World, counting: type[Counting]
) -> None:
    process, execution_id = await lose_queued_messages(sqlite_world, counting, stored=False)
    done = await process.wait(execution_id)
    assert done.status == "failed"
    assert done.error_info is not None and done.error_info["code"] == "dead_letter_threshold_exceeded"
    delivered = {call[3] for call in counting.calls if call[2] == "b"}
    assert done.message_counts is not None
    assert done.message_counts["dead_lettered"] == 4 - len(delivered) > 0


def test_route_order_serves_downstream_routes_first(snapshot_of: Callable[[str], ConfigSnapshot]) -> None:
    config = snapshot_of(STALLING.replace("STORED", "true")).config
    assert route_order(config) == ["two", "one"]
