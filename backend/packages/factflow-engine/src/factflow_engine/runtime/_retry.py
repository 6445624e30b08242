"""Retry delays of `error_handling` (docs/reference/pipeline-yaml.md)."""

from __future__ import annotations

import random

from factflow_engine.config import ErrorHandlingConfig

__all__ = ("JITTER_RANGE", "retry_delay")

JITTER_RANGE = (0.9, 1.1)
"""Every wait is multiplied by a random factor in this range."""

_random = random.Random()


def retry_delay(policy: ErrorHandlingConfig, failed_attempt: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait before invoking an adapter again after attempt `failed_attempt` failed.

    `fixed` waits `retry_delay_seconds`; `exponential` waits `retry_delay_seconds × 2^(n−1)`,
    capped at `max_retry_delay_seconds`. Both are multiplied by a random factor in [0.9, 1.1]
    (the cap applies after the jitter, so it is a true upper bound).

    Args:
        policy: The route's merged error-handling policy.
        failed_attempt: 1 for the first call, 2 for the first retry, ...
        rng: Random source (tests pass a seeded one).
    """
    if failed_attempt < 1:
        raise ValueError(f"failed_attempt must be at least 1, got {failed_attempt!r}")
    base = policy.retry_delay_seconds
    factor = (rng or _random).uniform(*JITTER_RANGE)
    if policy.backoff == "fixed":
        return base * factor
    # Cap the exponent too, so a large attempt number cannot overflow a float.
    raw = base * (2.0 ** min(failed_attempt - 1, 64))
    return min(policy.max_retry_delay_seconds, raw * factor)
