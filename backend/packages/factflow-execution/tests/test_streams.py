from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from factflow_execution import (
    ExecutionEventHub,
    ExecutionEventStreamer,
    PipelineExecution,
    PipelineExecutionRepository,
    StorageEventStreamer,
    StreamEvent,
)

MakeExecution = Callable[..., PipelineExecution]


async def _until(events: AsyncIterator[StreamEvent], name: str) -> list[StreamEvent]:
    seen: list[StreamEvent] = []
    async for event in events:
        seen.append(event)
        if event.event == name:
            return seen
    return seen


async def _subscribed(hub: ExecutionEventHub, execution_id: str) -> None:
    """Let the stream task run until it has subscribed (yields to the loop; no timed sleep)."""
    for _ in range(1_000):
        if hub.subscriber_count(execution_id):
            return
        await asyncio.sleep(0)
    raise AssertionError("the stream never subscribed")


async def _finish(repo: PipelineExecutionRepository, hub: ExecutionEventHub, execution_id: str, status: str) -> None:
    assert await repo.finish(execution_id, status)  # type: ignore[arg-type]
    hub.finish(execution_id, status=status, previous_status="running")


@pytest.fixture
def hub() -> ExecutionEventHub:
    return ExecutionEventHub(progress_interval=0)


async def test_snapshot_then_live_then_terminal(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution())
    streamer = ExecutionEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = streamer.stream(execution.execution_id, timeout=30)
    snapshot = await anext(events)
    assert snapshot.event == "execution.snapshot"
    assert snapshot.data["execution"]["id"] == execution.execution_id
    assert snapshot.data["type"] == "execution.snapshot" and snapshot.data["execution_id"] == execution.execution_id

    hub.publish(execution.execution_id, "stage.completed", {"entry_id": "a"})
    hub.publish("someone-else", "stage.completed", {"entry_id": "x"})
    hub.publish(execution.execution_id, "route.state", {"route_id": "first", "processor_state": "running"})
    await _finish(execution_repo, hub, execution.execution_id, "completed")
    rest = [event async for event in events]
    assert [e.event for e in rest] == ["stage.completed", "route.state", "execution.status", "stream.end"]
    assert rest[-1].data["reason"] == "terminal" and rest[-1].data["status"] == "completed"
    assert rest[2].data["status"] == "completed"
    assert hub.subscriber_count() == 0


async def test_final_execution_gets_snapshot_and_end_at_once(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution(status="failed"))
    streamer = ExecutionEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = [event async for event in streamer.stream(execution.execution_id, timeout=30)]
    assert [e.event for e in events] == ["execution.snapshot", "stream.end"]
    assert events[1].data == {**events[1].data, "reason": "terminal", "status": "failed"}


async def test_resume_sends_newer_buffered_events_then_snapshot(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution())
    execution_id = execution.execution_id
    for name in ("a", "b", "c"):
        hub.publish(execution_id, "stage.processing", {"entry_id": name})
    seen_up_to = hub.buffered(execution_id, kind="execution")[0].id
    streamer = ExecutionEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = streamer.stream(execution_id, timeout=30, last_event_id=seen_up_to)
    head = [await anext(events) for _ in range(3)]
    assert [(e.event, e.data.get("entry_id")) for e in head] == [
        ("stage.processing", "b"),
        ("stage.processing", "c"),
        ("execution.snapshot", None),
    ]
    await _finish(execution_repo, hub, execution_id, "cancelled")
    tail = [event async for event in events]
    assert [e.event for e in tail] == ["execution.status", "stream.end"]

    # The snapshot's id also works as a resume point.
    after_snapshot = [e.event async for e in streamer.stream(execution_id, timeout=30, last_event_id=head[-1].id)]
    assert after_snapshot == ["execution.status", "execution.snapshot", "stream.end"]


async def test_include_messages_false_drops_stage_events(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution())
    streamer = ExecutionEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = streamer.stream(execution.execution_id, timeout=30, include_messages=False)
    assert (await anext(events)).event == "execution.snapshot"
    hub.publish(execution.execution_id, "stage.failed", {"entry_id": "a"})
    hub.publish(execution.execution_id, "message.dead_lettered", {"correlation_id": "a"})
    hub.publish(execution.execution_id, "execution.progress", {"published": 1})
    await _finish(execution_repo, hub, execution.execution_id, "failed")
    assert [e.event async for e in events] == [
        "message.dead_lettered",
        "execution.progress",
        "execution.status",
        "stream.end",
    ]


async def test_timeout_ends_with_current_status(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution())
    streamer = ExecutionEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = [e async for e in streamer.stream(execution.execution_id, timeout=0.05)]
    assert [e.event for e in events] == ["execution.snapshot", "stream.end"]
    assert events[-1].data["reason"] == "timeout" and events[-1].data["status"] == "running"


async def test_hub_shutdown_ends_stream(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution())
    streamer = ExecutionEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = streamer.stream(execution.execution_id, timeout=30)
    assert (await anext(events)).event == "execution.snapshot"
    await hub.shutdown()
    end = [e async for e in events]
    assert [e.event for e in end] == ["stream.end"] and end[0].data["reason"] == "shutdown"


async def test_snapshot_failure_sends_error_then_end(hub: ExecutionEventHub, reader: object) -> None:
    streamer = ExecutionEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = [e async for e in streamer.stream("0190c6a4-0000-7000-8000-00000000ffff", timeout=30)]
    assert [e.event for e in events] == ["error", "stream.end"]
    assert events[0].data["error_code"] == "execution_not_found"
    assert events[1].data["reason"] == "error"


async def test_closing_the_stream_early_unsubscribes(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution())
    streamer = ExecutionEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = streamer.stream(execution.execution_id, timeout=30)
    await anext(events)
    assert hub.subscriber_count(execution.execution_id) == 1
    await events.aclose()  # type: ignore[attr-defined]
    assert hub.subscriber_count(execution.execution_id) == 0


# ---------------------------------------------------------------- storage streams


def _written(hub: ExecutionEventHub, execution_id: str, key: str, route_id: str = "first", stage: str = "echo") -> None:
    hub.publish(
        execution_id,
        "storage.object.created",
        {
            "key": key,
            "route_id": route_id,
            "stage": stage,
            "adapter_name": "echo",
            "correlation_id": "c",
            "content_type": "application/json",
            "size": 2,
            "created_at": "2025-03-01T00:00:00.000000Z",
        },
    )


async def test_storage_stream_filters_and_multiplexes_until_all_finish(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    one = (await execution_repo.insert(make_execution())).execution_id
    two = (await execution_repo.insert(make_execution())).execution_id
    streamer = StorageEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = streamer.stream([one, two], route_id="first", extension="json,.md", path="ab", timeout=30)
    first_task = asyncio.ensure_future(anext(events))
    await _subscribed(hub, one)
    _written(hub, one, f"executions/{one}/first/echo/abc.json")
    _written(hub, one, f"executions/{one}/first/echo/abc.fanout.txt")  # extension filtered out
    _written(hub, two, f"executions/{two}/second/echo/abd.json", route_id="second")  # route filtered out
    _written(hub, two, f"executions/{two}/first/echo/xyz.json")  # path filtered out
    _written(hub, two, f"executions/{two}/first/echo/abz.md")
    hub.publish(one, "stage.completed", {})  # execution events never reach storage streams
    first = await first_task
    assert first.data["key"].endswith("abc.json")
    await _finish(execution_repo, hub, one, "completed")
    await _finish(execution_repo, hub, two, "failed")
    rest = [e async for e in events]
    assert [(e.event, e.execution_id) for e in rest] == [
        ("storage.object.created", two),
        ("execution.finished", one),
        ("execution.finished", two),
        ("stream.end", None),
    ]
    assert rest[0].data["key"].endswith("abz.md")
    assert rest[-1].data["reason"] == "terminal"
    assert rest[-1].data["statuses"] == {one: "completed", two: "failed"}


async def test_storage_stream_of_final_executions_ends_at_once_unless_keep_open(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    done = (await execution_repo.insert(make_execution(status="completed"))).execution_id
    streamer = StorageEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = [e async for e in streamer.stream([done], timeout=30)]
    assert [e.event for e in events] == ["execution.finished", "stream.end"]
    assert events[-1].data["reason"] == "terminal" and events[-1].data["status"] == "completed"

    kept = [e async for e in streamer.stream([done], timeout=0.05, keep_open=True)]
    assert [e.event for e in kept] == ["execution.finished", "stream.end"]
    assert kept[-1].data["reason"] == "timeout"


async def test_storage_stream_resumes_from_buffer(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution_id = (await execution_repo.insert(make_execution())).execution_id
    for name in ("a", "b", "c"):
        _written(hub, execution_id, f"executions/{execution_id}/first/echo/{name}.json")
    seen = hub.buffered(execution_id, kind="storage")[1].id
    streamer = StorageEventStreamer(hub, reader)  # type: ignore[arg-type]
    events = streamer.stream([execution_id], timeout=30, last_event_id=seen)
    resumed = await anext(events)
    assert resumed.data["key"].endswith("c.json")
    await _finish(execution_repo, hub, execution_id, "completed")
    assert [e.event async for e in events] == ["execution.finished", "stream.end"]


async def test_storage_stream_rejects_too_many_executions(hub: ExecutionEventHub, reader: object) -> None:
    streamer = StorageEventStreamer(hub, reader)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1 to 20"):
        await anext(streamer.stream([f"id-{n}" for n in range(21)]))
    with pytest.raises(ValueError, match="1 to 20"):
        await anext(streamer.stream([]))


async def test_overflow_drops_oldest_then_sends_a_fresh_snapshot(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution = await execution_repo.insert(make_execution())
    streamer = ExecutionEventStreamer(hub, reader, queue_size=2)  # type: ignore[arg-type]
    events = streamer.stream(execution.execution_id, timeout=30)
    assert (await anext(events)).event == "execution.snapshot"
    for index in range(5):
        hub.publish(execution.execution_id, "route.state", {"n": index})
    head = [await anext(events) for _ in range(3)]
    assert [(e.event, e.data.get("n")) for e in head] == [
        ("route.state", 3),
        ("route.state", 4),
        ("execution.snapshot", None),
    ]
    await _finish(execution_repo, hub, execution.execution_id, "completed")
    assert [e.event async for e in events] == ["execution.status", "stream.end"]


async def test_storage_stream_announces_a_finish_lost_to_overflow(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    execution_id = (await execution_repo.insert(make_execution())).execution_id
    streamer = StorageEventStreamer(hub, reader, queue_size=1)  # type: ignore[arg-type]
    events = streamer.stream([execution_id], timeout=30)
    first = asyncio.ensure_future(anext(events))
    await _subscribed(hub, execution_id)
    assert await execution_repo.finish(execution_id, "completed")
    hub.finish(execution_id, status="completed", previous_status="running")
    # Overflow after the finish pushes execution.finished out of the one-slot queue.
    _written(hub, execution_id, f"executions/{execution_id}/first/echo/late.json")
    received = [await first] + [e async for e in events]
    assert [e.event for e in received] == ["storage.object.created", "execution.finished", "stream.end"]
    assert received[1].data["status"] == "completed"
    assert received[2].data["reason"] == "terminal"


async def test_a_final_status_stored_by_another_server_ends_a_quiet_stream(
    hub: ExecutionEventHub, reader: object, execution_repo: PipelineExecutionRepository, make_execution: MakeExecution
) -> None:
    """The hub was never told the execution ended (it ran elsewhere): the stored status ends it."""
    execution = await execution_repo.insert(make_execution())
    streamer = ExecutionEventStreamer(hub, reader, status_poll_seconds=0.05)  # type: ignore[arg-type]
    events = streamer.stream(execution.execution_id, timeout=30)
    assert (await anext(events)).event == "execution.snapshot"
    assert await execution_repo.finish(execution.execution_id, "failed")
    rest = [event async for event in events]
    assert [e.event for e in rest] == ["stream.end"]
    assert rest[0].data["reason"] == "terminal" and rest[0].data["status"] == "failed"
