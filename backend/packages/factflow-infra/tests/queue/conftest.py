from __future__ import annotations

# Queue fixtures (factflow_infra.testing); found by name.
from factflow_infra.testing._queue import (  # noqa: F401
    queue_provider,
    queue_provider_factory,
    queue_scope,
    redis_db,
    redis_url,
)
