"""Health probes (`get_health`): one per component, each bounded by 2 s, combined into an overall status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from factflow_foundation import utc_now

from .schemas._system import ComponentHealth

__all__ = (
    "PROBE_TIMEOUT_SECONDS",
    "ComponentStatus",
    "Probe",
    "ProbeResult",
    "overall_status",
    "run_probes",
)

PROBE_TIMEOUT_SECONDS = 2.0
COMPONENT_NAMES = ("database", "queue", "storage", "orchestrator", "lineage", "workers")

ComponentStatus = Literal["healthy", "degraded", "unhealthy"]
_RANK: dict[str, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a probe found."""

    status: ComponentStatus
    message: str | None = None


Probe = Callable[[], Awaitable[ProbeResult]]
"""Checks one component; may raise (counted as unhealthy)."""


async def _run_one(name: str, probe: Probe | None, limit_seconds: float) -> ComponentHealth:
    started = time.perf_counter()
    if probe is None:
        result = ProbeResult("unhealthy", f"{name} is not started")
    else:
        try:
            async with asyncio.timeout(limit_seconds):
                result = await probe()
        except TimeoutError:
            result = ProbeResult("unhealthy", f"{name} did not answer within {limit_seconds:g} s")
        except Exception as exc:
            result = ProbeResult("unhealthy", f"{type(exc).__name__}: {exc}")
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    return ComponentHealth(
        name=name, status=result.status, message=result.message, latency_ms=latency_ms, checked_at=utc_now()
    )


async def run_probes(
    probes: Mapping[str, Probe | None], *, limit_seconds: float = PROBE_TIMEOUT_SECONDS
) -> list[ComponentHealth]:
    """Run every component's probe concurrently; a missing probe or a timeout is `unhealthy`."""
    return list(await asyncio.gather(*(_run_one(name, probes.get(name), limit_seconds) for name in COMPONENT_NAMES)))


def overall_status(components: Sequence[ComponentHealth]) -> ComponentStatus:
    """The worst component status, except that an unhealthy `lineage` only degrades the whole."""
    worst = "healthy"
    for component in components:
        status = component.status
        if component.name == "lineage" and status == "unhealthy":
            status = "degraded"
        if _RANK[status] > _RANK[worst]:
            worst = status
    return "unhealthy" if worst == "unhealthy" else "degraded" if worst == "degraded" else "healthy"
