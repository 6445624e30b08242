"""`PeriodicSweep`: the loop the queue janitor and lineage retention share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

__all__ = ("PeriodicSweep",)

logger = logging.getLogger(__name__)


class PeriodicSweep(ABC):
    """Runs `sweep()` every `interval_seconds` as a named task until `shutdown()`.

    A failed pass is logged and tried again at the next interval; `shutdown()` ends a wait at once.
    """

    def __init__(self, *, name: str, interval_seconds: float) -> None:
        self._name = name
        self._interval = interval_seconds
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def sweep(self) -> int:
        """One pass; returns how much it did."""

    def start(self) -> None:
        """Start the loop as a named task; idempotent."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=self._name)

    async def run(self) -> None:
        """Sweep every interval until `shutdown()`; a failed pass is logged and retried next time."""
        while not self._stop.is_set():
            try:
                await self.sweep()
            except Exception:
                logger.warning("%s pass failed; retrying in %.0f s", self._name, self._interval, exc_info=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._stop.wait()

    async def shutdown(self) -> None:
        """Stop the loop and wait for it; idempotent and safe before `start()`."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            await task
