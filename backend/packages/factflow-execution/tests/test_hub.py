from __future__ import annotations

import asyncio
import time

import pytest

from factflow_engine._ports import EngineEventSink
from factflow_execution import EventStamper, EventStreamerUnavailableError, ExecutionEventHub, StreamEvent
from factflow_foundation import new_id


def test_hub_is_an_engine_event_sink() -> None:
    assert isinstance(ExecutionEventHub(), EngineEventSink)


async def test_emit_stamps_fields_and_increasing_ids() -> None:
    hub = ExecutionEventHub()
    with hub.subscribe(["e1"]) as subscription:
        for index in range(50):
            hub.publish("e1", "stage.completed", {"entry_id": str(index)})
        hub.publish("e2", "stage.completed", {"entry_id": "other"})
        events = subscription.drain()
    assert [e.data["entry_id"] for e in events] == [str(i) for i in range(50)]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert len({e.id for e in events}) == 50
    first = events[0]
    assert first.event == "stage.completed"
    assert first.data["type"] == "stage.completed"
    assert first.data["execution_id"] == "e1"
    assert first.data["timestamp"].endswith("Z") and len(first.data["timestamp"]) == 27
    assert first.execution_id == "e1"
    assert first.to_sse().startswith(f"id: {first.id}\nevent: stage.completed\ndata: {{")
    assert first.to_sse().endswith("}\n\n")


async def test_buffers_keep_last_events_per_kind_for_resume() -> None:
    hub = ExecutionEventHub()
    for index in range(1_005):
        hub.publish("e1", "stage.processing", {"n": index})
    hub.publish("e1", "storage.object.created", {"key": "k"})
    execution_events = hub.buffered("e1", kind="execution")
    assert len(execution_events) == 1_000
    assert execution_events[0].data["n"] == 5
    assert [e.data["key"] for e in hub.buffered("e1", kind="storage")] == ["k"]
    after = execution_events[-3].id
    assert [e.data["n"] for e in hub.buffered("e1", kind="execution", after=after)] == [1003, 1004]
    assert hub.buffered("unknown", kind="execution") == []


async def test_subscriber_overflow_drops_oldest_but_keeps_end_signal() -> None:
    hub = ExecutionEventHub()
    with hub.subscribe(["e1"], max_queue=3) as subscription:
        for index in range(10):
            hub.publish("e1", "route.state", {"n": index})
        hub.finish("e1", status="completed", previous_status="running")
        events = subscription.drain()
        assert subscription.dropped == 8
        # The newest survive; the final status is among them and the end signal is separate.
        assert [e.event for e in events] == ["route.state", "route.state", "execution.status"]
        assert [e.data.get("n") for e in events[:2]] == [8, 9]
        end = subscription.ended("e1")
        assert end is not None and end.reason == "terminal" and end.status == "completed"


async def test_progress_is_throttled_coalesced_and_flushed_before_final_status() -> None:
    interval = 0.2
    hub = ExecutionEventHub(progress_interval=interval)
    with hub.subscribe(["e1"]) as subscription:
        hub.publish("e1", "execution.progress", {"published": 1})
        hub.publish("e1", "execution.progress", {"published": 2})
        hub.publish("e1", "execution.progress", {"published": 3})
        first = subscription.drain()
        assert [e.data["published"] for e in first] == [1]
        sent_at = time.monotonic()
        assert await subscription.wait(5)
        trailing = subscription.drain()
        assert time.monotonic() - sent_at >= interval * 0.9
        assert [e.data["published"] for e in trailing] == [3]

        hub.publish("e1", "execution.progress", {"published": 4})
        hub.finish("e1", status="completed", previous_status="running")
        final = subscription.drain()
        assert [(e.event, e.data.get("published")) for e in final] == [
            ("execution.progress", 4),
            ("execution.status", None),
        ]
        assert final[1].data["status"] == "completed" and final[1].data["previous_status"] == "running"
    # execution.finished goes to the storage buffer only.
    assert [e.event for e in hub.buffered("e1", kind="storage")] == ["execution.finished"]


async def test_wait_times_out_and_wakes_on_events() -> None:
    hub = ExecutionEventHub()
    with hub.subscribe(["e1"]) as subscription:
        assert not await subscription.wait(0.01)
        asyncio.get_running_loop().call_soon(hub.publish, "e1", "route.state", {})
        assert await subscription.wait(5)
        assert len(subscription.drain()) == 1


async def test_emit_never_raises_and_accepts_other_threads() -> None:
    hub = ExecutionEventHub()
    with hub.subscribe(["e1"]) as subscription:
        hub.publish("e1", "route.state", {"bad": object()})  # not JSON-able: still accepted, never raises
        await asyncio.to_thread(hub.publish, "e1", "route.state", {"from": "thread"})
        assert await subscription.wait(5)
        events = subscription.drain()
        if len(events) < 2:
            assert await subscription.wait(5)
            events += subscription.drain()
    assert [e.data.get("from") for e in events] == [None, "thread"]


async def test_shutdown_ends_subscriptions_and_refuses_new_ones() -> None:
    hub = ExecutionEventHub()
    subscription = hub.subscribe(["e1"])
    hub.begin_shutdown()
    assert hub.shutting_down
    await hub.shutdown()
    await hub.shutdown()
    assert subscription.shutdown_reason == "shutdown"
    assert await subscription.wait(None)
    subscription.close()
    assert hub.subscriber_count() == 0
    with pytest.raises(EventStreamerUnavailableError) as info:
        hub.subscribe(["e1"])
    assert info.value.code == "event_streamer_unavailable"


async def test_finish_while_shutting_down_ends_with_shutdown() -> None:
    hub = ExecutionEventHub()
    with hub.subscribe(["e1"]) as subscription:
        hub.begin_shutdown()
        hub.finish("e1", status="interrupted", previous_status="running")
        end = subscription.ended("e1")
        assert end is not None and end.reason == "shutdown" and end.status == "interrupted"
        assert hub.ended("e1") == end


async def test_events_of_another_server_are_ingested_with_their_ids_and_end_streams() -> None:
    leader, standby = ExecutionEventHub(progress_interval=0), ExecutionEventHub(progress_interval=0)
    forwarded: list[tuple[str, StreamEvent]] = []
    leader.add_tap(lambda execution_id, event: forwarded.append((execution_id, event)))
    standby_seen: list[tuple[str, StreamEvent]] = []
    standby.add_tap(lambda execution_id, event: standby_seen.append((execution_id, event)))
    with standby.subscribe(["e1", "e2"], kinds=("execution", "storage")) as subscription:
        leader.publish("e1", "stage.completed", {"entry_id": "a"})
        leader.finish("e2", status="interrupted", previous_status="running")
        leader.finish("e1", status="completed", previous_status="running")
        for execution_id, event in forwarded:
            standby.ingest(execution_id, event)
        received = subscription.drain()
        assert [(e.id, e.event) for e in received] == [(e.id, e.event) for _, e in forwarded]
        assert [e.event for _, e in forwarded if e.data["execution_id"] == "e1"] == [
            "stage.completed",
            "execution.status",
            "execution.finished",
        ]
        end = subscription.ended("e1")
        assert end is not None and (end.reason, end.status) == ("terminal", "completed")
        # An interrupted execution is resumed by whichever server leads next: its streams go on.
        assert subscription.ended("e2") is None
    assert standby_seen == []  # ingested events are not forwarded again
    assert standby.new_event_id() > forwarded[-1][1].id


def test_a_stamper_gives_increasing_ids_after_every_id_it_observed() -> None:
    stamper = EventStamper()
    first = stamper.new_event_id()
    elsewhere = new_id()  # another process's event, delivered here
    stamper.observe(elsewhere)
    later = stamper.make_event("e1", "stage.completed", {"entry_id": "r1", "type": "not overwritten"})

    assert first < elsewhere < later.id
    assert later.event == "stage.completed"
    assert (later.data["type"], later.data["execution_id"], later.data["entry_id"]) == ("stage.completed", "e1", "r1")
