from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from factflow_execution import (
    ExecutionEventHub,
    ExecutionWaiter,
    PipelineExecution,
    PipelineExecutionRepository,
)
from factflow_protocols import ErrorInfo

MakeExecution = Callable[..., PipelineExecution]


async def test_already_final_returns_at_once(
    reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution())
    assert await execution_repo.finish(execution.execution_id, "failed", error_info=ErrorInfo("start_failed", "boom"))
    hub = ExecutionEventHub()
    result = await ExecutionWaiter(execution.execution_id, service=reader, hub=hub).wait(None)  # type: ignore[arg-type]
    assert result.completed and result.status == "failed"
    assert result.error_info == {"code": "start_failed", "message": "boom", "details": {}}
    assert result.duration_ms is not None
    body = result.model_dump(mode="json")
    assert set(body) == {
        "execution_id",
        "completed",
        "status",
        "duration_ms",
        "waited_ms",
        "message",
        "error_info",
        "stats",
    }
    assert body["stats"]["execution_id"] == execution.execution_id


async def test_resolves_when_the_execution_stops(
    reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution())
    hub = ExecutionEventHub()
    waiter = ExecutionWaiter(execution.execution_id, service=reader, hub=hub)  # type: ignore[arg-type]
    task = asyncio.create_task(waiter.wait(timedelta(seconds=30)))
    subscribed = asyncio.Event()

    def _check() -> None:
        if hub.subscriber_count(execution.execution_id):
            subscribed.set()
        else:
            asyncio.get_running_loop().call_soon(_check)

    _check()
    async with asyncio.timeout(5):
        await subscribed.wait()
    assert not task.done()
    assert await execution_repo.finish(execution.execution_id, "interrupted")
    hub.finish(execution.execution_id, status="interrupted", previous_status="running")
    async with asyncio.timeout(5):
        result = await task
    assert result.completed and result.status == "interrupted"
    assert result.waited_ms < 30_000
    assert hub.subscriber_count() == 0


async def test_timeout_reports_running(
    reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution())
    hub = ExecutionEventHub()
    result = await ExecutionWaiter(execution.execution_id, service=reader, hub=hub).wait(0.05)  # type: ignore[arg-type]
    assert not result.completed
    assert result.status == "running" and result.duration_ms is None
    assert result.waited_ms >= 50
    assert "Timed out" in result.message
