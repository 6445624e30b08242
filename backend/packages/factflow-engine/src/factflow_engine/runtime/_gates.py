"""Gate 3: the per-route fan-out budget (docs/concepts/routes-and-stages.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ._backpressure import AdaptiveLimiter

__all__ = ("FanoutBudget",)

logger = logging.getLogger(__name__)


class FanoutBudget:
    """Units for unfinished child branches and unconfirmed publishes of one route.

    `acquire()` waits while the budget is used up. Nested fan-out (a child branch that fans out
    again) takes its units with `acquire_nowait()`, which may overdraw: waiting there could
    deadlock, since the waiting branch's own unit is needed by the very branches it waits for.
    The overdraft is bounded by the chain length and by the emitted lists already in memory.

    Args:
        limit: `orchestrator.max_fanout_pending`.
        on_exhausted_change: Told `True` when the budget becomes used up and `False` when it has
            room again (the route pauses reading meanwhile).
    """

    def __init__(self, limit: int, *, on_exhausted_change: Callable[[bool], None] | None = None) -> None:
        self._limiter = AdaptiveLimiter(limit)
        self._on_change = on_exhausted_change
        self._exhausted = False

    @property
    def limit(self) -> int:
        return self._limiter.limit

    @property
    def in_use(self) -> int:
        return self._limiter.in_use

    @property
    def exhausted(self) -> bool:
        return self._limiter.in_use >= self._limiter.limit

    async def acquire(self) -> None:
        await self._limiter.acquire()
        self._notify()

    def try_acquire(self) -> bool:
        """Take a unit if one is free right now (nobody waiting); never waits."""
        if self._limiter.in_use < self._limiter.limit and self._limiter.waiting == 0:
            self._limiter.acquire_nowait()
            self._notify()
            return True
        return False

    def acquire_nowait(self) -> None:
        """Take a unit even when the budget is used up."""
        self._limiter.acquire_nowait()
        self._notify()

    def release(self) -> None:
        self._limiter.release()
        self._notify()

    def _notify(self) -> None:
        exhausted = self.exhausted
        if exhausted != self._exhausted:
            self._exhausted = exhausted
            if self._on_change is not None:
                try:
                    self._on_change(exhausted)
                except Exception:  # observers never break processing
                    logger.exception("Fan-out budget observer failed")
