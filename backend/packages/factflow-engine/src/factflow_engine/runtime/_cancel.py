"""`Cancellation`: the execution's stop signal as every wait of the delivery path sees it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ._delivery import Stopped
from ._gates import FanoutBudget

__all__ = ("Cancellation",)


class Cancellation:
    """Turns "the execution is cancelling or stopping" into `Stopped` at every wait.

    A user cancelling an execution is a domain state change, not task cancellation: the branch
    ends with `Stopped` and its delivery stays unacknowledged.

    Args:
        cancelling: Set when the execution starts cancelling or stopping.
    """

    __slots__ = ("_event",)

    def __init__(self, cancelling: asyncio.Event) -> None:
        self._event = cancelling

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise `Stopped` if the execution is cancelling."""
        if self._event.is_set():
            raise Stopped

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or raise `Stopped` as soon as the execution starts cancelling."""
        self.check()
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await self._event.wait()
        except TimeoutError:
            return
        raise Stopped

    async def race(self, acquire: Callable[[], Awaitable[None]]) -> None:
        """Run `acquire()`; give up with `Stopped` if the execution starts cancelling first."""
        self.check()
        task = asyncio.ensure_future(acquire())
        stop = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, stop):
                if not pending.done():
                    pending.cancel()
            await asyncio.wait({task, stop})
        if task.cancelled():
            raise Stopped
        task.result()

    async def take_unit(self, budget: FanoutBudget) -> None:
        """One fan-out budget unit; waits (giving up on cancel) only when the budget is used up."""
        if not budget.try_acquire():
            await self.race(budget.acquire)
