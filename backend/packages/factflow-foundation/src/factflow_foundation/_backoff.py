"""`Backoff`: the one doubling wait every retry loop of factflow uses."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("Backoff",)


@dataclass(slots=True)
class Backoff:
    """Doubling wait from `initial` to `maximum` seconds; `reset()` after a success.

    Only the arithmetic: each loop keeps its own way of sleeping (cancellable, cut short by a
    health probe) and its own notion of which errors are worth another attempt.
    """

    initial: float = 0.5
    maximum: float = 30.0
    _next: float = 0.0

    def next_delay(self) -> float:
        """The wait before the next attempt: `initial`, then doubled up to `maximum`."""
        delay = self._next or self.initial
        self._next = min(delay * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = 0.0
