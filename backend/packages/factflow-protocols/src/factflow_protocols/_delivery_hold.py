"""Whether the queue still holds the delivery being handled for this consumer (docs/concepts/workers.md).

A queue shared by several processes hands each entry to one consumer at a time, under a lease the
consumer renews while it holds the entry. A consumer cut off from the queue longer than the lease
loses the entry: another consumer claims it and runs it. Deliveries read ahead of what a route
runs (`prefetch` above `concurrency`) wait inside the engine for their turn; one whose lease lapsed
meanwhile must not run here as well. The subscription states its hold for each delivery in a
context variable; the engine asks before each adapter call.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Protocol

__all__ = ("DeliveryHold", "current_delivery_hold", "delivery_still_held", "holding_delivery")


class DeliveryHold(Protocol):
    """A subscription's answer, for one delivery, to "is this entry still mine?"."""

    def surely_held(self) -> bool:
        """True when the lease cannot have lapsed yet (renewed recently enough); no I/O."""
        ...

    async def confirm_held(self) -> bool:
        """Ask the queue whether the entry is still pending for this consumer (renewing the lease if so).

        False when another consumer owns the entry now or it was settled meanwhile. Waits while the
        queue is unreachable: the caller bounds the wait (cancellation).
        """
        ...


_current: ContextVar[DeliveryHold | None] = ContextVar("factflow_delivery_hold", default=None)


def current_delivery_hold() -> DeliveryHold | None:
    """The hold of the delivery this task handles; None outside a shared queue's delivery."""
    return _current.get()


class _Holding:
    """What `holding_delivery` returns (a class: cheaper than a generator, and it runs per delivery)."""

    __slots__ = ("_hold", "_token")

    def __init__(self, hold: DeliveryHold) -> None:
        self._hold = hold

    def __enter__(self) -> None:
        self._token = _current.set(self._hold)

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)


def holding_delivery(hold: DeliveryHold) -> contextlib.AbstractContextManager[None]:
    """Make `hold` the current delivery's hold while its handler runs (tasks it starts inherit it)."""
    return _Holding(hold)


async def delivery_still_held() -> bool:
    """Whether the delivery being handled is still this consumer's; True without a hold (memory queue)."""
    hold = _current.get()
    return hold is None or hold.surely_held() or await hold.confirm_held()
