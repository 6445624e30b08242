"""`LineageRepair.counts`: an execution's message counts as lineage tells them (after lost queue state)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factflow_replay import LineageRepair

if TYPE_CHECKING:
    from conftest import World

PIPELINE = """\
version: "1.0"
name: lineage-counts
error_handling: {tolerated_failures: 1}
routes:
  r:
    inbound: {queue: r}
    adapters:
      - {type: counting, stage: before}
      - {type: split, stage: fan, config: {field: items, item_field: item}}
      - {type: counting, stage: after}
    outbound: [{queue: s}]
  s:
    inbound: {queue: s}
    adapters:
      - type: fail
        config: {condition: {field: item.n, operator: eq, value: 1}, retryable: false}
      - {type: counting, stage: last}
init_message:
  route: r
  payload: {items: [{n: 0}, {n: 1}, {n: 2}]}
"""


async def test_lineage_counts_match_the_counters_of_an_undisturbed_run(sqlite_world: World) -> None:
    process = await sqlite_world.process()
    done = await process.run(PIPELINE)
    assert done.status == "completed"
    assert done.message_counts is not None
    repair = LineageRepair(repository=process.lineage, storage=process.storage, recorder=process.recorder)
    counts = await repair.counts(done.execution_id, done.config_snapshot.config)
    # The init message in `r` and three children in `s`; the children the split continues in `r`
    # never travelled through a queue there.
    assert counts.delivered == done.message_counts["published"] == done.message_counts["handled"] == 4
    assert counts.dead_lettered == done.message_counts["dead_lettered"] == 1
