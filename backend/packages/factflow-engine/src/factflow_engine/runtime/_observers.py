"""`DeliveryObservers`: one call per fact of a route's deliveries, fanned out to every observer once.

A fact (a delivery received, an adapter invoked or retried, a message dead-lettered, a delivery
finished or settled) updates the process-wide route counters, the execution's route counters,
the completion accountant and the event stream together. Observers never break processing: each
fact runs its observers behind one guard that logs and swallows their failures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from factflow_protocols import MessageDeadLettered

from ._accounting import CompletionAccountant
from ._delivery import RouteExecutionCounts
from ._events import EventEmitter
from ._metrics import RouteCounters

__all__ = ("DeliveryObservers",)

logger = logging.getLogger(__name__)


class DeliveryObservers:
    """The facts of one route of one execution, and everything that observes them.

    Args:
        route_id: The route.
        dead_letter_queue: The route's DLQ (logical name), named in `message.dead_lettered`.
        counters: Process-wide counters of the route name.
        execution_counts: This execution's counters of the route.
        accountant: The execution's completion accountant.
        events: The execution's event emitter.
    """

    def __init__(
        self,
        *,
        route_id: str,
        dead_letter_queue: str,
        counters: RouteCounters,
        execution_counts: RouteExecutionCounts,
        accountant: CompletionAccountant,
        events: EventEmitter,
    ) -> None:
        self.route_id = route_id
        self.dead_letter_queue = dead_letter_queue
        self.counters = counters
        self.execution_counts = execution_counts
        self.accountant = accountant
        self.events = events

    def _guard(self, fact: str, update: Callable[[], None]) -> None:
        try:
            update()
        except Exception:  # observers never break message processing
            logger.exception("An observer of %r failed in route %r", fact, self.route_id)

    # ------------------------------------------------------------------ facts

    def received(self) -> float:
        """A delivery entered the route; returns its start time for `finished`."""
        self.counters.received += 1
        self.execution_counts.received += 1
        return time.perf_counter()

    def invoked(self, adapter_name: str, seconds: float) -> None:
        """One adapter call returned or raised after `seconds`."""
        self.counters.observe_duration(adapter_name, seconds)

    def retried(self, adapter_name: str) -> None:
        """A failed call will be retried."""
        counters = self.counters
        counters.retried += 1
        counters.retried_by_adapter[adapter_name] += 1

    def dead_lettered(self, message_id: str, *, adapter_name: str | None, error_info: dict[str, Any] | None) -> None:
        """A message went to the DLQ (a branch at an adapter, or a whole delivery refused)."""

        def update() -> None:
            self.counters.dead_lettered += 1
            if adapter_name is not None:
                self.counters.failed_by_adapter[adapter_name] += 1
            self.accountant.dead_lettered(message_id)
            self.events(
                MessageDeadLettered(
                    correlation_id=message_id,
                    route_id=self.route_id,
                    adapter_name=adapter_name,
                    dead_letter_queue=self.dead_letter_queue,
                    error_info=error_info,
                )
            )

        self._guard("dead_lettered", update)

    def dead_lettering(self) -> None:
        """A branch is being published to the DLQ; `dead_lettering_ended` follows, after `dead_lettered`."""
        self._guard("dead_lettering", self.accountant.dead_letter_begin)

    def dead_lettering_ended(self) -> None:
        self._guard("dead_lettering_ended", self.accountant.dead_letter_end)

    def delivery_done(self, *, failed: bool) -> None:
        """Every branch of a delivery ended: `failed` when at least one was dead-lettered."""
        if failed:
            self.counters.failed += 1
            self.execution_counts.failed += 1
        else:
            self.counters.completed += 1
            self.execution_counts.completed += 1

    def settling(self, started: float) -> None:
        """The handler returned ACK or DEAD_LETTER: the provider settles the entry next."""

        def update() -> None:
            self.accountant.settle_begin()
            self.counters.observe_delivery((time.perf_counter() - started) * 1000.0)

        self._guard("settling", update)

    def settled(self, queue: str, message_id: str) -> None:
        """The provider settled an entry (`settling` came first)."""

        def update() -> None:
            if not self.accountant.settle_end(queue, message_id):
                self.counters.deduplicated += 1

        self._guard("settled", update)

    def provider_dead_lettered(self, message_id: str | None) -> None:
        """The provider dead-lettered an entry itself (undecodable): it counts as handled."""

        def update() -> None:
            self.accountant.delivery_handled()
            if message_id is not None:
                self.accountant.dead_lettered(message_id)

        self._guard("provider_dead_lettered", update)
