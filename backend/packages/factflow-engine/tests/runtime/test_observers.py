"""`DeliveryObservers` alone: one call per fact updates every observer, and a failing one never escapes."""

from __future__ import annotations

from typing import Any

import pytest

from factflow_engine.runtime import CompletionAccountant, RouteCounters
from factflow_engine.runtime._delivery import RouteExecutionCounts
from factflow_engine.runtime._events import EventEmitter
from factflow_engine.runtime._observers import DeliveryObservers
from factflow_protocols import EngineEvent

EXEC = "0190a000-0000-7000-8000-000000000001"


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, execution_id: str, event: EngineEvent) -> None:
        self.events.append((event.event_type, event.data()))


def _observers(accountant: CompletionAccountant | None = None) -> tuple[DeliveryObservers, Sink]:
    sink = Sink()
    observers = DeliveryObservers(
        route_id="r",
        dead_letter_queue="dlq.r",
        counters=RouteCounters("r"),
        execution_counts=RouteExecutionCounts(),
        accountant=accountant or CompletionAccountant({"in"}),
        events=EventEmitter(sink, EXEC),
    )
    return observers, sink


def test_one_dead_letter_updates_counters_accountant_and_events_at_once() -> None:
    observers, sink = _observers()
    error_info = {"error_type": "ValueError"}
    observers.dead_lettered("m1", adapter_name="scrape", error_info=error_info)
    observers.dead_lettered("m1", adapter_name="scrape", error_info=error_info)  # a redelivery's repeat
    assert observers.counters.dead_lettered == 2
    assert observers.counters.failed_by_adapter["scrape"] == 2
    assert observers.accountant.failed_messages == 1  # distinct ids
    assert sink.events[0] == (
        "message.dead_lettered",
        {
            "correlation_id": "m1",
            "route_id": "r",
            "adapter_name": "scrape",
            "dead_letter_queue": "dlq.r",
            "error_info": error_info,
        },
    )


def test_a_refused_delivery_has_no_adapter() -> None:
    observers, sink = _observers()
    observers.dead_lettered("m1", adapter_name=None, error_info=None)
    observers.delivery_done(failed=True)
    assert not observers.counters.failed_by_adapter
    assert (observers.counters.failed, observers.execution_counts.failed) == (1, 1)
    assert sink.events[0][1]["adapter_name"] is None


def test_deliveries_count_received_completed_and_failed() -> None:
    observers, _ = _observers()
    observers.received()
    observers.received()
    observers.delivery_done(failed=False)
    observers.delivery_done(failed=True)
    counts = observers.execution_counts
    assert (counts.received, counts.completed, counts.failed) == (2, 1, 1)
    assert (observers.counters.received, observers.counters.completed, observers.counters.failed) == (2, 1, 1)


def test_settlements_count_once_and_repeats_as_deduplicated() -> None:
    accountant = CompletionAccountant({"in"})
    observers, _ = _observers(accountant)
    for _ in range(2):
        started = observers.received()
        observers.settling(started)
        observers.settled("in", "m1")
    assert accountant.handled == 1 and accountant.deduplicated == 1
    assert observers.counters.deduplicated == 1
    assert accountant.quiet
    assert len(observers.counters.window()) == 2


def test_the_provider_dead_lettering_an_entry_counts_it_handled() -> None:
    accountant = CompletionAccountant({"in"})
    observers, _ = _observers(accountant)
    observers.provider_dead_lettered("m1")
    observers.provider_dead_lettered(None)
    assert accountant.handled == 2 and accountant.failed_messages == 1


def test_a_failing_observer_is_logged_and_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    def broken(message_id: str) -> bool:
        raise RuntimeError("observer down")

    observers, _ = _observers(CompletionAccountant({"in"}))
    observers.accountant.dead_lettered = broken  # type: ignore[method-assign]  # a failing stand-in
    observers.dead_lettered("m1", adapter_name="scrape", error_info=None)
    assert observers.counters.dead_lettered == 1
    assert "An observer of 'dead_lettered' failed" in caplog.text
