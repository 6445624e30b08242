"""Start-up retries: keep trying a connection for up to 60 s, unless shutdown is requested."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from factflow_foundation import Backoff, ServiceUnavailableError

__all__ = ("StartupAborted", "retry_startup_step")

logger = logging.getLogger(__name__)

T = TypeVar("T")

STARTUP_RETRY_SECONDS = 60.0


class StartupAborted(RuntimeError):
    """Shutdown was requested while start-up was still waiting for a dependency."""


async def retry_startup_step(
    name: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    stop: asyncio.Event,
    budget_seconds: float = STARTUP_RETRY_SECONDS,
    retry_on: tuple[type[BaseException], ...] = (ServiceUnavailableError,),
) -> T:
    """Run `attempt` until it succeeds, retrying `retry_on` errors with backoff (0.5 s → 5 s).

    Raises:
        StartupAborted: `stop` was set while waiting.
        Exception: the last error once `budget_seconds` are used up, or any other error at once.
    """
    deadline = time.monotonic() + budget_seconds
    backoff = Backoff(0.5, 5.0)
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except retry_on as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.error("%s: giving up after %d attempts: %s", name, tries, exc)
                raise
            delay = backoff.next_delay()
            logger.warning("%s: not reachable yet (%s); retrying in %.1f s", name, exc, min(delay, remaining))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(delay, remaining)):
                    await stop.wait()
            if stop.is_set():
                raise StartupAborted(f"shutdown requested while waiting for {name}") from exc
