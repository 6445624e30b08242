"""The resume walk (docs/guides/recovery.md) and seed tasks, driven through real executions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from factflow_engine.runtime import SeedContext
from factflow_engine.storage import StageIdentity, StageStorageAdapter, StorageBackendAdapter, WriteProvenance
from factflow_engine.testing import TEST_OPTIONS, PipelineHarness
from factflow_foundation import derive_message_id, new_id
from factflow_protocols import AdapterResult, LineageRecord, PipelineAdapter, PipelineContext, QueueMessage, StageStatus


class Counting(PipelineAdapter):
    """Records every invocation as `(stage, message id)` and adds its stage to `seen`."""

    adapter_type = "counting"
    calls: ClassVar[list[tuple[str, str]]] = []

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        type(self).calls.append((context.stage_name, context.correlation_id))
        seen = [*context.message.get("seen", []), context.stage_name]
        return AdapterResult(message={**context.message, "seen": seen})


class CountingSplit(PipelineAdapter):
    """Records the invocation and emits two children."""

    adapter_type = "counting_split"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        Counting.calls.append((context.stage_name, context.correlation_id))
        return AdapterResult(emitted=[{"child": 0}, {"child": 1}])


PIPELINE = """
version: "1.0"
routes:
  r:
    inbound: {queue: q.r}
    adapters:
      - {type: counting, stage: first}
      - {type: counting_split, stage: fan}
      - {type: counting, stage: last}
    outbound: [{queue: q.out}]
  out:
    inbound: {queue: q.out}
    adapters: [{type: passthrough}]
"""

EXEC = "0190b000-0000-7000-8000-000000000001"


@pytest.fixture
async def harness(tmp_path: Path) -> PipelineHarness:
    Counting.calls = []
    return PipelineHarness(workdir=tmp_path, adapters={"counting": Counting, "counting_split": CountingSplit})


def _stage(harness: PipelineHarness, stage: str, index: int) -> StageStorageAdapter:
    return StageStorageAdapter(
        StorageBackendAdapter(harness.storage),
        identity=StageIdentity(
            execution_id=EXEC, route_id="r", stage=stage, adapter_name="counting", adapter_index=index
        ),
    )


async def test_resume_walk_skips_what_storage_and_lineage_already_hold(harness: PipelineHarness) -> None:
    async with harness:
        m1, m2, m3, m4 = (new_id() for _ in range(4))
        c1, c2 = (derive_message_id(m1, "r", "1", str(i)) for i in range(2))
        # m1: stage `first` stored, fan-out manifest stored, child c1 already through `last`.
        await _stage(harness, "first", 0).write_output({"v": "stored"}, provenance=WriteProvenance(m1))
        fan = _stage(harness, "fan", 1)
        await fan.write_output({"child": 0}, provenance=WriteProvenance(c1, m1))
        await fan.write_output({"child": 1}, provenance=WriteProvenance(c2, m1))
        await fan.write_manifest(m1, [c1, c2], message_continues=False, provenance=WriteProvenance(m1))
        await _stage(harness, "last", 2).write_output(
            {"child": 0, "done": "stored"}, provenance=WriteProvenance(c1, m1)
        )
        # m2: lineage says adapter 0 ended its chain without output.
        assert harness.recorder is not None
        harness.recorder.record(
            LineageRecord(
                id=new_id(),
                correlation_id=m2,
                parent_correlation_id=None,
                execution_id=EXEC,
                route_id="r",
                adapter_name="counting",
                adapter_index=0,
                stage_name="first",
                stage_status=StageStatus.COMPLETED,
                started_at=datetime.now(UTC),
                metadata={"result": "none"},
            )
        )
        assert await harness.recorder.flush(EXEC, timeout=5)

        async def seed(context: SeedContext) -> None:
            for message_id in (m1, m2, m3):
                await context.publish_to_route(
                    "r", QueueMessage(id=message_id, payload={"id": message_id}, metadata={"recovered": True})
                )
            # m4 enters at the last adapter, as a replay would.
            await context.publish("q.r", QueueMessage(id=m4, payload={"id": m4}, metadata={"start_at_adapter": 2}))

        execution = await harness.start(PIPELINE, execution_id=EXEC, skip_init=True, seed=seed)
        result = await execution.wait(20)

    assert result.status == "completed"
    m3_children = [derive_message_id(m3, "r", "1", str(i)) for i in range(2)]
    assert sorted(Counting.calls) == sorted(
        [
            ("last", c2),  # m1: only the unfinished child runs
            ("first", m3),  # m3: nothing stored, runs normally
            ("fan", m3),
            ("last", m3_children[0]),
            ("last", m3_children[1]),
            ("last", m4),  # m4: starts at adapter 2
        ]
    )
    delivered = result.outputs("out", "passthrough")
    assert delivered[c1] == {"child": 0, "done": "stored"}
    assert delivered[c2] == {"child": 1, "seen": ["last"]}
    assert delivered[m4] == {"id": m4, "seen": ["last"]}
    assert m1 not in delivered and m2 not in delivered
    assert set(delivered) == {c1, c2, m4, *m3_children}
    # The walk writes no rows for the stages it skipped; re-run rows carry `recovered`.
    assert result.rows(correlation_id=m1) == []
    (c2_row,) = result.rows(correlation_id=c2, route_id="r")
    assert c2_row["adapter_index"] == 2
    assert c2_row["metadata"]["recovered"] is True
    assert [row["adapter_index"] for row in result.rows(correlation_id=m3, route_id="r")] == [0, 1]
    assert result.message_counts["published"] == 4 + 5


async def test_seed_failure_and_explicit_fail(harness: PipelineHarness) -> None:
    async with harness:

        async def nothing_to_publish(context: SeedContext) -> None:
            assert context.execution_id == EXEC
            assert context.inbound_queue("r") == "q.r"
            assert context.outbound_queues("r") == ["q.out"]
            context.fail("replay_publish_failed", "No replay message could be published.")

        execution = await harness.start(PIPELINE, execution_id=EXEC, skip_init=True, seed=nothing_to_publish)
        result = await execution.wait(10)
        assert result.status == "failed"
        assert result.error_info is not None
        assert result.error_info.as_dict() == {
            "code": "replay_publish_failed",
            "message": "No replay message could be published.",
            "details": {},
        }

        async def broken(context: SeedContext) -> None:
            await context.publish_to_route("r", QueueMessage(payload={"x": 1}))
            raise RuntimeError("source vanished")

        execution = await harness.start(PIPELINE, skip_init=True, seed=broken)
        result = await execution.wait(10)
        assert result.status == "failed"
        assert result.error_info is not None
        assert result.error_info.code == "start_failed"
        assert "source vanished" in result.error_info.message
        assert result.message_counts["handled"] == 3  # what it published still ran to the end


async def test_stall_detector_reconciles_counts_nobody_can_deliver(tmp_path: Path) -> None:
    reconciled: list[int] = []

    async def reconciler(context: SeedContext) -> None:
        reconciled.append(context.message_counts().in_flight)

    options = replace(TEST_OPTIONS, stall_check_interval_seconds=0.05, stall_timeout_seconds=0.2)
    async with PipelineHarness(
        workdir=tmp_path,
        options=options,
        reconciler=reconciler,
        adapters={"counting": Counting, "counting_split": CountingSplit},
    ) as harness:

        async def lose_messages(context: SeedContext) -> None:
            context.resync_in_flight(3)  # counted, but no queue holds them

        execution = await harness.start(PIPELINE, skip_init=True, seed=lose_messages)
        result = await execution.wait(10)
    assert result.status == "completed"
    assert reconciled == [3]
    assert result.message_counts["in_flight"] == 0
