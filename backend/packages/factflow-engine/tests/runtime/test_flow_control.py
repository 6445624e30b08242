"""Breaker deferral, storage backoff, output limits, metrics and the adapter test helper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from factflow_builtins import FailAdapter, SplitAdapter
from factflow_engine.runtime import CircuitState, RouteState
from factflow_engine.testing import TEST_OPTIONS, PipelineHarness, run_adapter, run_pipeline
from factflow_infra.storage import FilesystemStorageProvider
from factflow_protocols import (
    AdapterResult,
    NonRetryableError,
    PipelineAdapter,
    PipelineContext,
    StorageUnavailableError,
    StoredObject,
)

BREAKER = """
version: "1.0"
error_handling: {max_retries: 5, retry_delay_seconds: 0.01, backoff: fixed}
circuit_breaker: {failure_threshold: 2, recovery_timeout_seconds: 1}
routes:
  work:
    inbound: {queue: q.work}
    adapters:
      - type: fail
        config: {times: 3}
init_message: {route: work, payload: {x: 1}}
"""


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[PipelineHarness]:
    async with PipelineHarness(workdir=tmp_path) as running:
        yield running


async def test_open_breaker_defers_without_using_retries(harness: PipelineHarness) -> None:
    execution = await harness.start(BREAKER)
    result = await execution.wait(20)
    assert result.status == "completed"
    (row,) = result.lineage
    assert row["stage_status"] == "completed"
    assert row["metadata"]["attempts"] == 4  # two deferrals cost no attempt
    assert row["metadata"]["deferred_ms"] >= 1500
    assert row["duration_ms"] < 1000  # waiting is not active time
    breaker = execution.orchestrator.processors["work"].slots[0].breaker
    stats = breaker.stats()
    assert stats.state is CircuitState.CLOSED
    assert stats.opened_count == 2
    assert stats.rejected >= 2
    assert (stats.failures, stats.successes) == (3, 1)
    assert result.dead_letters["dlq.work"] == []


class SwitchableStorage:
    """Filesystem storage that can be "down": writes raise `StorageUnavailableError` meanwhile."""

    def __init__(self, inner: FilesystemStorageProvider, *, failures_before_backoff: int) -> None:
        self.inner = inner
        self.down = False
        self.failures = 0
        self.failures_before_backoff = failures_before_backoff
        self.backing_off = asyncio.Event()

    async def write(
        self, key: str, data: bytes, metadata: dict[str, Any] | None = None, *, content_type: str = "application/json"
    ) -> StoredObject:
        if self.down:
            self.failures += 1
            if self.failures >= self.failures_before_backoff:
                # The writer enters backoff in this same step, before the test resumes.
                self.backing_off.set()
            raise StorageUnavailableError("storage is down")
        return await self.inner.write(key, data, metadata, content_type=content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


OUTAGE = """
version: "1.0"
routes:
  split:
    inbound: {queue: q.split}
    adapters: [{type: split, config: {field: items}}]
    outbound: [{queue: q.work}]
  work:
    inbound: {queue: q.work, concurrency: 1, prefetch: 1}
    adapters: [{type: set_fields, config: {values: {ok: true}}}]
init_message: {route: split, payload: {items: [1, 2, 3, 4, 5, 6]}}
"""


async def test_storage_outage_backs_off_and_never_dead_letters(tmp_path: Path) -> None:
    inner = FilesystemStorageProvider(tmp_path / "objects")
    await inner.start()
    # One write attempt plus the three quick retries fail before the route backs off.
    storage = SwitchableStorage(inner, failures_before_backoff=1 + len(TEST_OPTIONS.storage_write_retry_delays))
    async with PipelineHarness(workdir=tmp_path, storage=storage) as harness:
        await harness.manager.pause_route("work")
        execution = await harness.start(OUTAGE)
        await harness.events.wait_for(
            "execution.progress", lambda data: data["published"] == 7 and data["handled"] == 1
        )
        storage.down = True
        await harness.manager.resume_route("work")
        async with asyncio.timeout(10):
            await storage.backing_off.wait()
        work = execution.orchestrator.processors["work"]
        # The route stops reading while storage backs off; it stays `running`.
        assert work.storage_backoff.active
        assert work.reading_blocked
        assert work.state is RouteState.RUNNING
        assert harness.manager.is_live(execution.execution_id)
        storage.down = False
        result = await execution.wait(20)
    assert result.status == "completed"
    assert len(result.outputs("work", "set_fields")) == 6
    assert result.dead_letters["dlq.work"] == []
    assert result.message_counts["dead_lettered"] == 0


class Huge(PipelineAdapter):
    adapter_type = "huge"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        if context.message["item"]["kind"] == "nan":
            return AdapterResult(message={"value": float("nan")})
        return AdapterResult(message={"blob": "x" * 5000})


LIMITS = """
version: "1.0"
error_handling: {tolerated_failures: 2}
routes:
  work:
    inbound: {queue: q.work}
    adapters: [{type: split, config: {field: items}}, {type: huge}]
init_message: {route: work, payload: {items: [{kind: big}, {kind: nan}]}}
"""


async def test_oversized_and_unserialisable_outputs_are_dead_lettered(tmp_path: Path) -> None:
    options = replace(TEST_OPTIONS, max_message_bytes=4096)
    async with PipelineHarness(workdir=tmp_path, options=options, adapters={"huge": Huge}) as harness:
        result = await (await harness.start(LIMITS)).wait(20)
    assert result.status == "completed"
    reasons = sorted((entry.control.dead_letter or {})["reason"] for entry in result.dead_letters["dlq.work"])
    assert reasons == ["output_not_serializable", "output_too_large"]
    assert all(row["metadata"]["attempts"] == 1 for row in result.rows(status="failed"))
    assert result.outputs("work", "huge") == {}


async def test_run_adapter_helper() -> None:
    result = await run_adapter(
        SplitAdapter, {"items": [1, 2], "batch": 7}, config={"field": "items", "keep_fields": ["batch"]}
    )
    assert result is not None
    assert result.emitted == [{"item": 1, "batch": 7}, {"item": 2, "batch": 7}]
    by_type = await run_adapter("set_fields", {"a": 1}, config={"values": {"b": 2}})
    assert by_type is not None and by_type.message == {"a": 1, "b": 2}
    with pytest.raises(NonRetryableError):
        await run_adapter(FailAdapter, {}, config={"retryable": False})
    passed = await run_adapter(FailAdapter, {"x": 1}, config={"times": 1}, attempt=2)
    assert passed is not None and passed.message == {"x": 1}


async def test_run_pipeline_helper(tmp_path: Path) -> None:
    result = await run_pipeline(
        OUTAGE.replace("[1, 2, 3, 4, 5, 6]", "[1]"), workdir=tmp_path, init_payload={"items": [9, 8]}
    )
    assert result.status == "completed"
    assert sorted(payload["item"] for payload in result.outputs("work", "set_fields").values()) == [8, 9]
    assert (tmp_path / "factflow.db").exists()
