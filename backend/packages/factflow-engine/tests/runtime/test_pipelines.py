"""Real pipelines in process: memory queue, filesystem storage, SQLite lineage, built-in adapters."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from factflow_engine.storage import RESERVED_SIDECAR_FIELDS, WRITTEN_BY
from factflow_engine.testing import PipelineHarness
from factflow_foundation import bytes_checksum, canonical_json, content_hash, derive_message_id
from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext

FAN_OUT = """
version: "1.0"
name: fan-out
routes:
  ingest:
    inbound: {queue: /queue/q.ingest, concurrency: 4, prefetch: 16}
    adapters:
      - type: split
        config: {field: items, keep_fields: [batch]}
      - type: set_fields
        stage: tag
        condition: {field: item.n, operator: lt, value: 50}
        config: {values: {tagged: true}}
    outbound:
      - queue: q.enrich
  enrich:
    inbound: {queue: q.enrich, concurrency: 8, prefetch: 32}
    adapters:
      - type: passthrough
        storage: {metadata_fields: [item.n, {name: tag_flag, path: tagged}]}
    outbound:
      - queue: q.store
  store:
    inbound: {queue: q.store, concurrency: 8, prefetch: 32}
    adapters:
      - type: set_fields
        config: {values: {stored: true}}
init_message:
  route: ingest
  payload: {batch: b1}
"""


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[PipelineHarness]:
    async with PipelineHarness(workdir=tmp_path) as running:
        yield running


async def test_fan_out_to_100_messages_across_three_routes(harness: PipelineHarness) -> None:
    items = [{"n": n} for n in range(100)]
    execution = await harness.start(FAN_OUT, init_payload={"batch": "b1", "items": items})
    result = await execution.wait(30)
    root = execution.orchestrator.root_correlation_id
    assert root is not None

    assert result.status == "completed", result.error_info
    assert result.error_info is None
    assert result.message_counts == {
        "published": 201,
        "handled": 201,
        "in_flight": 0,
        "dead_lettered": 0,
        "tolerated_failures": 0,
    }

    # Deterministic child ids: derive_message_id(parent, route, adapter index, position).
    child_ids = [derive_message_id(root, "ingest", "0", str(i)) for i in range(100)]
    split_outputs = result.outputs("ingest", "split")
    assert set(split_outputs) == set(child_ids)
    assert split_outputs[child_ids[7]] == {"item": {"n": 7}, "batch": "b1"}
    assert result.manifests("ingest", "split") == {
        root: {"message_id": root, "children": child_ids, "message_continues": False}
    }
    # The condition skipped `tag` for n >= 50: nothing stored for those, input passed through.
    tagged = result.outputs("ingest", "tag")
    assert set(tagged) == set(child_ids[:50])
    enrich = result.outputs("enrich", "passthrough")
    assert len(enrich) == 100
    assert enrich[child_ids[3]] == {"item": {"n": 3}, "batch": "b1", "tagged": True}
    assert enrich[child_ids[60]] == {"item": {"n": 60}, "batch": "b1"}
    stored = result.outputs("store", "set_fields")
    assert len(stored) == 100
    assert all(payload["stored"] is True for payload in stored.values())

    # One object plus sidecar per message and stored stage; nothing else.
    assert len(result.objects) == 100 + 1 + 50 + 100 + 100
    sidecar = result.sidecar("enrich", "passthrough", child_ids[3])
    body = canonical_json(enrich[child_ids[3]])
    assert set(sidecar) - {"modified_at"} == (RESERVED_SIDECAR_FIELDS - {"children"}) | {"n", "tag_flag"}
    assert sidecar["kind"] == "stage_output"
    assert sidecar["checksum"] == bytes_checksum(body)
    assert sidecar["content_length"] == len(body)
    assert (sidecar["n"], sidecar["tag_flag"]) == (3, True)
    assert (sidecar["route_id"], sidecar["stage"], sidecar["adapter_name"], sidecar["adapter_index"]) == (
        "enrich",
        "passthrough",
        "passthrough",
        0,
    )
    assert sidecar["correlation_id"] == child_ids[3]
    assert sidecar["parent_correlation_id"] == root
    assert sidecar["execution_id"] == execution.execution_id
    assert sidecar["config_hash"].startswith("sha256:")
    assert sidecar["written_by"] == WRITTEN_BY
    assert "tag_flag" not in result.sidecar("enrich", "passthrough", child_ids[60])  # missing value left out
    manifest_sidecar = result.sidecar("ingest", "split", root, manifest=True)
    assert (manifest_sidecar["kind"], manifest_sidecar["children"]) == ("fanout_manifest", child_ids)

    # Lineage: exactly one row per (message, route, adapter), parents linked.
    rows = result.lineage
    keys = Counter((row["correlation_id"], row["route_id"], row["adapter_index"]) for row in rows)
    assert len(rows) == 1 + 100 + 100 + 100
    assert set(keys.values()) == {1}
    statuses = Counter((row["route_id"], row["adapter_index"], row["stage_status"]) for row in rows)
    assert statuses == {
        ("ingest", 0, "completed"): 1,
        ("ingest", 1, "completed"): 50,
        ("ingest", 1, "skipped"): 50,
        ("enrich", 0, "completed"): 100,
        ("store", 0, "completed"): 100,
    }
    (split_row,) = result.rows(route_id="ingest", adapter_index=0)
    assert split_row["parent_correlation_id"] is None
    assert split_row["metadata"]["result"] == "emitted"
    assert split_row["metadata"]["emitted_count"] == 100
    assert split_row["storage_key"].endswith(f"/ingest/split/{root}.fanout.json")
    child_hashes = [content_hash(split_outputs[child_id]) for child_id in child_ids]
    assert split_row["output_hash"] == content_hash(child_hashes)
    for row in rows[1:]:
        assert row["parent_correlation_id"] == root
        assert row["correlation_id"] in child_ids
    skipped = result.rows(route_id="ingest", adapter_index=1, status="skipped")
    assert all(row["output_hash"] == row["input_hash"] for row in skipped)
    assert all(row["storage_key"] is None for row in skipped)
    (store_row,) = result.rows(route_id="store", correlation_id=child_ids[9])
    assert store_row["input_hash"] == content_hash(enrich[child_ids[9]])
    assert store_row["output_hash"] == content_hash(stored[child_ids[9]])
    assert store_row["storage_key"].endswith(f"/store/set_fields/{child_ids[9]}.json")
    trace_ids = {row["metadata"]["trace_id"] for row in rows}
    assert len(trace_ids) == 1

    # Events: storage per object, route states, and a final progress matching the counts.
    assert len(result.events_of("storage.object.created")) == len(result.objects)
    progress = result.events_of("execution.progress")[-1]
    assert progress == {
        "published": 201,
        "handled": 201,
        "in_flight": 0,
        "dead_lettered": 0,
        "completed_stages": 251,
        "failed_stages": 0,
    }
    assert {
        event["route_id"] for event in result.events_of("route.state") if event["processor_state"] == "stopped"
    } == {
        "ingest",
        "enrich",
        "store",
    }
    assert result.dead_letters == {"dlq.enrich": [], "dlq.ingest": [], "dlq.store": []}


TERMINAL_FAN_OUT = """
version: "1.0"
orchestrator: {max_fanout_pending: 3}
routes:
  fan:
    inbound: {queue: q.in}
    adapters:
      - type: split
        config: {field: items, keep_fields: [batch]}
    outbound:
      - queue: q.even
        condition: {field: item.even, operator: eq, value: true}
      - queue: q.all
  even:
    inbound: {queue: q.even, concurrency: 4, prefetch: 8}
    adapters: [{type: passthrough}]
  all:
    inbound: {queue: q.all, concurrency: 4, prefetch: 8}
    adapters: [{type: passthrough}]
init_message: {route: fan, payload: {batch: b2}}
"""


async def test_a_fan_out_at_the_end_of_a_route_publishes_its_children_within_the_budget(
    harness: PipelineHarness,
) -> None:
    # Children with no adapter left are published in batches rather than as branches; they keep
    # their ids, parent, metadata and outbound conditions, and never hold more budget than allowed.
    items = [{"n": n, "even": n % 2 == 0} for n in range(300)]
    execution = await harness.start(TERMINAL_FAN_OUT, init_payload={"batch": "b2", "items": items})
    budget = execution.orchestrator.processors["fan"].budget
    peak = 0
    release = budget.release

    def watched_release() -> None:
        nonlocal peak
        peak = max(peak, budget.in_use)
        release()

    budget.release = watched_release  # type: ignore[method-assign]  # observe the budget in use
    result = await execution.wait(30)
    root = execution.orchestrator.root_correlation_id
    assert root is not None

    assert result.status == "completed", result.error_info
    assert result.message_counts["published"] == 1 + 150 + 300
    assert result.message_counts["handled"] == 1 + 150 + 300
    child_ids = [derive_message_id(root, "fan", "0", str(i)) for i in range(300)]
    assert set(result.outputs("all", "passthrough")) == set(child_ids)
    assert set(result.outputs("even", "passthrough")) == set(child_ids[::2])
    assert result.outputs("all", "passthrough")[child_ids[7]] == {"item": {"n": 7, "even": False}, "batch": "b2"}
    rows = result.rows(route_id="even")
    assert len(rows) == 150
    assert {row["parent_correlation_id"] for row in rows} == {root}
    assert len({row["metadata"]["trace_id"] for row in result.lineage}) == 1
    assert 1 <= peak <= 3
    assert budget.in_use == 0


RETRY = """
version: "1.0"
error_handling: {max_retries: 3, retry_delay_seconds: 0.01, backoff: fixed}
routes:
  work:
    inbound: {queue: q.work}
    adapters:
      - type: fail
        config: {times: 2}
      - type: passthrough
init_message: {route: work, payload: {x: 1}}
"""


async def test_fail_twice_then_succeed_after_retries(harness: PipelineHarness) -> None:
    execution = await harness.start(RETRY)
    result = await execution.wait(20)
    assert result.status == "completed"
    (fail_row,) = result.rows(adapter_index=0)
    assert fail_row["stage_status"] == "completed"
    assert fail_row["metadata"]["attempts"] == 3
    assert fail_row["delivery_count"] == 1
    assert fail_row["duration_ms"] < 1000
    (pass_row,) = result.rows(adapter_index=1)
    assert pass_row["stage_status"] == "completed"
    pending = [event for event in result.events_of("stage.pending") if event["adapter_index"] == 0]
    assert len(pending) == 2
    assert pending[0]["error_info"]["error_type"] == "InducedFailureError"
    assert result.outputs("work", "passthrough") == {execution.orchestrator.root_correlation_id: {"x": 1}}
    assert harness.manager.metrics_registry.route("work").retried == 2
    assert result.message_counts["dead_lettered"] == 0


POISON = """
version: "1.0"
error_handling: {max_retries: 1, retry_delay_seconds: 0.01, tolerated_failures: TOLERATED}
routes:
  split:
    inbound: {queue: q.split}
    adapters:
      - type: split
        config: {field: items}
    outbound: [{queue: q.work}]
  work:
    inbound: {queue: q.work, concurrency: 2, prefetch: 4}
    adapters:
      - type: set_fields
        config: {values: {checked: true}}
      - type: fail
        config: {condition: {field: item, operator: eq, value: 3}}
    outbound: [{queue: q.done}]
  done:
    inbound: {queue: q.done}
    adapters: [{type: passthrough}]
init_message: {route: split, payload: {items: [1, 2, 3, 4, 5]}}
"""


@pytest.mark.parametrize(("tolerated", "expected"), [(0, "failed"), (1, "completed")])
async def test_poisoned_message_is_dead_lettered_and_tolerated_failures_decide(
    harness: PipelineHarness, tolerated: int, expected: str
) -> None:
    execution = await harness.start(POISON.replace("TOLERATED", str(tolerated)))
    result = await execution.wait(20)
    root = execution.orchestrator.root_correlation_id
    assert root is not None
    poisoned = derive_message_id(root, "split", "0", "2")

    assert result.status == expected
    if expected == "failed":
        assert result.error_info is not None
        assert result.error_info.code == "dead_letter_threshold_exceeded"
        assert result.error_info.details == {"failed_messages": 1, "tolerated_failures": 0}
    else:
        assert result.error_info is None
    assert result.message_counts == {
        "published": 1 + 5 + 4,
        "handled": 10,
        "in_flight": 0,
        "dead_lettered": 1,
        "tolerated_failures": tolerated,
    }
    # Only the failing branch is dead-lettered; its siblings went on.
    assert len(result.outputs("done", "passthrough")) == 4
    assert poisoned not in result.outputs("done", "passthrough")
    (entry,) = result.dead_letters["dlq.work"]
    assert entry.id == poisoned
    assert entry.route_id == "work"
    assert entry.payload == {"item": 3, "checked": True}  # the input to the failing adapter
    dead_letter = entry.control.dead_letter
    assert dead_letter is not None
    assert dead_letter["reason"] == "retries_exhausted"
    assert (dead_letter["route_id"], dead_letter["adapter_index"], dead_letter["stage"]) == ("work", 1, "fail")
    assert dead_letter["attempts"] == 2
    assert dead_letter["error_info"]["error_type"] == "InducedFailureError"
    assert entry.control.hop_count == 1
    (failed_row,) = result.rows(status="failed")
    assert (failed_row["correlation_id"], failed_row["route_id"], failed_row["adapter_index"]) == (poisoned, "work", 1)
    assert failed_row["metadata"]["dead_lettered"] is True
    assert failed_row["error_info"]["attempts"] == 2
    assert failed_row["error_info"]["retryable"] is True
    (event,) = result.events_of("message.dead_lettered")
    assert event["correlation_id"] == poisoned
    assert event["dead_letter_queue"] == "dlq.work"
    assert event["adapter_name"] == "fail"


NON_RETRYABLE = """
version: "1.0"
error_handling: {max_retries: 5, retry_delay_seconds: 0.01}
routes:
  work:
    inbound: {queue: q.work}
    adapters:
      - type: fail
        config: {retryable: false, message: bad input}
init_message: {route: work, payload: {x: 1}}
"""


async def test_non_retryable_error_dead_letters_at_once(harness: PipelineHarness) -> None:
    result = await (await harness.start(NON_RETRYABLE)).wait(20)
    assert result.status == "failed"
    (row,) = result.lineage
    assert row["stage_status"] == "failed"
    assert row["metadata"]["attempts"] == 1
    assert row["error_info"]["retryable"] is False
    (entry,) = result.dead_letters["dlq.work"]
    assert (entry.control.dead_letter or {})["reason"] == "non_retryable"
    assert result.events_of("stage.pending") == []


TIMEOUT = """
version: "1.0"
error_handling: {max_retries: 1, retry_delay_seconds: 0.01}
routes:
  work:
    inbound: {queue: q.work}
    adapters:
      - type: delay
        config: {ms: 5000}
        timeout_seconds: 0.1
init_message: {route: work, payload: {x: 1}}
"""


async def test_invocation_timeout_is_a_retryable_failure(harness: PipelineHarness) -> None:
    result = await (await harness.start(TIMEOUT)).wait(20)
    assert result.status == "failed"
    (row,) = result.lineage
    assert row["stage_status"] == "failed"
    assert row["error_info"]["error_type"] == "TimeoutError"
    assert row["metadata"]["attempts"] == 2
    assert (result.dead_letters["dlq.work"][0].control.dead_letter or {})["reason"] == "retries_exhausted"


class Fork(PipelineAdapter):
    """Continues with the message and also emits two children; drops messages marked `drop`."""

    adapter_type = "fork"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        if context.message.get("drop"):
            return None
        return AdapterResult(
            message={**context.message, "role": "parent"},
            emitted=[{"role": "child", "n": 0}, {"role": "child", "n": 1}],
            metadata={"tenant": "t1", "hop_count": 99},
            storage_metadata={"forked": True},
        )


class MetaProbe(PipelineAdapter):
    """Copies `tenant` and `hop_count` of the envelope metadata into the payload."""

    adapter_type = "meta_probe"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        metadata = context.metadata
        return AdapterResult(message={"tenant": metadata.get("tenant"), "hop": metadata.get("hop_count")})


FORK = """
version: "1.0"
routes:
  fork:
    inbound: {queue: q.fork}
    adapters:
      - type: fork
      - type: set_fields
        config: {values: {after: true}}
        condition: {field: role, operator: eq, value: child}
    outbound:
      - queue: q.children
        condition: {field: role, operator: eq, value: child}
      - queue: q.all
  children:
    inbound: {queue: q.children}
    adapters: [{type: passthrough}]
  all:
    inbound: {queue: q.all}
    adapters: [{type: meta_probe}]
init_message: {route: fork, payload: {x: 1}}
"""


async def test_mid_chain_fan_out_with_continuing_parent_and_outbound_conditions(tmp_path: Path) -> None:
    async with PipelineHarness(workdir=tmp_path, adapters={"fork": Fork, "meta_probe": MetaProbe}) as harness:
        execution = await harness.start(FORK)
        result = await execution.wait(20)
        dropped = await (await harness.start(FORK, init_payload={"drop": True})).wait(20)
    root = execution.orchestrator.root_correlation_id
    assert root is not None
    children = [derive_message_id(root, "fork", "0", str(i)) for i in range(2)]
    assert result.status == "completed"
    assert result.manifests("fork", "fork") == {
        root: {"message_id": root, "children": children, "message_continues": True}
    }
    assert set(result.outputs("fork", "fork")) == {root, *children}
    assert result.sidecar("fork", "fork", children[0])["forked"] is True
    # The parent branch went on beside its children; the condition ran set_fields for children only.
    assert set(result.outputs("fork", "set_fields")) == set(children)
    assert set(result.outputs("children", "passthrough")) == set(children)
    probed = result.outputs("all", "meta_probe")
    assert set(probed) == {root, *children}
    (fork_row,) = result.rows(route_id="fork", adapter_index=0)
    assert fork_row["metadata"]["result"] == "both"
    assert fork_row["metadata"]["emitted_count"] == 2
    assert fork_row["storage_key"].endswith(f"/fork/fork/{root}.fanout.json")
    skipped = result.rows(route_id="fork", adapter_index=1, correlation_id=root)
    assert [row["stage_status"] for row in skipped] == ["skipped"]
    assert result.message_counts["published"] == 1 + 2 + 3
    # Adapter metadata travels with the outputs; reserved keys in it (hop_count) are ignored.
    assert all(payload == {"tenant": "t1", "hop": 1} for payload in probed.values())

    # Returning None ends the chain: a completed row with result=none, nothing stored or sent.
    assert dropped.status == "completed"
    (none_row,) = dropped.lineage
    assert (none_row["stage_status"], none_row["metadata"]["result"]) == ("completed", "none")
    assert none_row["output_hash"] is None and none_row["storage_key"] is None
    assert dropped.objects == {}
    assert dropped.message_counts["published"] == 1
