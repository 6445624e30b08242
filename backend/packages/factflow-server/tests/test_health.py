"""Health probes and the overall rule (api.md Y1), and answers while a dependency is down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from factflow_server._health import ComponentStatus, Probe, ProbeResult, overall_status, run_probes
from factflow_server.testing import RunningServer, assert_error


def _probe(status: ComponentStatus, *, hang: bool = False) -> Probe:
    async def probe() -> ProbeResult:
        if hang:
            await asyncio.Event().wait()  # never answers: the probe limit cuts it off
        return ProbeResult(status)

    return probe


async def test_slow_or_missing_probes_are_unhealthy() -> None:
    components = await run_probes(
        {"database": _probe("healthy"), "queue": _probe("healthy", hang=True), "storage": _probe("degraded")},
        limit_seconds=0.05,
    )
    by_name = {component.name: component for component in components}
    assert [component.name for component in components] == [
        "database",
        "queue",
        "storage",
        "orchestrator",
        "lineage",
        "workers",
    ]
    assert by_name["queue"].status == "unhealthy" and "did not answer" in str(by_name["queue"].message)
    assert by_name["orchestrator"].status == "unhealthy"
    assert by_name["storage"].status == "degraded"


async def test_overall_rule() -> None:
    healthy = {name: _probe("healthy") for name in ("database", "queue", "storage", "orchestrator", "workers")}
    lineage_down = await run_probes({**healthy, "lineage": _probe("unhealthy")})
    assert overall_status(lineage_down) == "degraded"
    queue_degraded = await run_probes({**healthy, "queue": _probe("degraded"), "lineage": _probe("healthy")})
    assert overall_status(queue_degraded) == "degraded"
    storage_down = await run_probes({**healthy, "storage": _probe("unhealthy"), "lineage": _probe("healthy")})
    assert overall_status(storage_down) == "unhealthy"
    all_good = await run_probes({**healthy, "lineage": _probe("healthy")})
    assert overall_status(all_good) == "healthy"


def test_storage_outage_answers_503(factflow_server_factory: Callable[..., RunningServer]) -> None:
    server = factflow_server_factory()
    root = Path(str(server.settings.storage_uri).removeprefix("file://"))
    moved = root.with_name("storage-away")
    with server.client() as client:
        root.rename(moved)
        try:
            health = client.get("/api/v1/system/health")
            assert health.status_code == 503
            body = health.json()
            assert body["status"] == "unhealthy"
            storage = next(component for component in body["components"] if component["name"] == "storage")
            assert storage["status"] == "unhealthy" and "missing" in storage["message"]
            assert_error(client.get("/api/v1/storage/objects"), 503, "storage_unavailable")
            assert_error(client.get("/api/v1/storage/objects/a/b.json"), 503, "storage_unavailable")
        finally:
            moved.rename(root)
        assert client.get("/api/v1/system/health").status_code == 200
        assert client.get("/api/v1/storage/objects").status_code == 200
