from __future__ import annotations

import random

import pytest

from factflow_engine.config import ErrorHandlingConfig
from factflow_engine.runtime import retry_delay


class Fixed(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def uniform(self, a: float, b: float) -> float:
        assert (a, b) == (0.9, 1.1)
        return self.value


def test_exponential_doubles_from_the_base_and_is_capped() -> None:
    policy = ErrorHandlingConfig(retry_delay_seconds=2, backoff="exponential", max_retry_delay_seconds=10)
    rng = Fixed(1.0)
    assert [retry_delay(policy, attempt, rng=rng) for attempt in (1, 2, 3, 4, 50)] == [2, 4, 8, 10, 10]


def test_fixed_waits_the_base_every_time() -> None:
    policy = ErrorHandlingConfig(retry_delay_seconds=3, backoff="fixed")
    assert [retry_delay(policy, attempt, rng=Fixed(1.0)) for attempt in (1, 2, 5)] == [3, 3, 3]


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_jitter_multiplies_the_wait(factor: float) -> None:
    policy = ErrorHandlingConfig(retry_delay_seconds=1, backoff="exponential", max_retry_delay_seconds=60)
    assert retry_delay(policy, 3, rng=Fixed(factor)) == pytest.approx(4 * factor)
    fixed = ErrorHandlingConfig(retry_delay_seconds=1, backoff="fixed")
    assert retry_delay(fixed, 7, rng=Fixed(factor)) == pytest.approx(factor)


def test_jitter_stays_within_ten_percent_and_under_the_cap() -> None:
    policy = ErrorHandlingConfig(retry_delay_seconds=1, backoff="exponential", max_retry_delay_seconds=5)
    rng = random.Random(7)
    delays = [retry_delay(policy, 2, rng=rng) for _ in range(500)]
    assert min(delays) >= 1.8 and max(delays) <= 2.2
    assert len(set(delays)) > 100
    capped = [retry_delay(policy, 6, rng=rng) for _ in range(100)]
    assert max(capped) <= 5.0


def test_zero_base_never_waits() -> None:
    policy = ErrorHandlingConfig(retry_delay_seconds=0, max_retry_delay_seconds=0)
    assert retry_delay(policy, 4) == 0


def test_attempt_must_be_positive() -> None:
    with pytest.raises(ValueError, match="failed_attempt"):
        retry_delay(ErrorHandlingConfig(), 0)
