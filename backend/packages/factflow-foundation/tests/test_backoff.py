"""`Backoff`: doubling waits, capped, and back to the first wait after a reset."""

from __future__ import annotations

from factflow_foundation import Backoff


def test_waits_double_up_to_the_maximum() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_reset_starts_again_from_the_first_wait() -> None:
    backoff = Backoff(1.0, 30.0)
    backoff.next_delay()
    backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_defaults_are_half_a_second_to_thirty_seconds() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay() for _ in range(10)]
    assert delays[0] == 0.5 and max(delays) == 30.0
