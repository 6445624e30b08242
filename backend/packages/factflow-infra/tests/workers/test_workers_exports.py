from __future__ import annotations

import factflow_infra
import factflow_infra.workers


def test_workers_exports_are_pinned() -> None:
    assert set(factflow_infra.workers.__all__) == {
        "WorkerRecord",
        "WorkerRoute",
        "WorkerState",
        "WorkerRegistry",
        "create_worker_registry",
        "MemoryWorkerRegistry",
        "RedisWorkerRegistry",
        "RedisRequestRelay",
        "RelayHandler",
        "RelayUnansweredError",
        "RedisEventChannel",
        "EventReceiver",
        "default_worker_id",
        "validate_worker_id",
        "DEFAULT_WORKER_TTL_SECONDS",
        "DEFAULT_DEAD_RETENTION_SECONDS",
        "HEARTBEAT_INTERVAL_SECONDS",
    }
    for name in factflow_infra.workers.__all__:
        assert hasattr(factflow_infra.workers, name), name


def test_the_package_reexports_the_registries() -> None:
    for name in ("create_worker_registry", "MemoryWorkerRegistry", "RedisWorkerRegistry"):
        assert name in factflow_infra.__all__
        assert getattr(factflow_infra, name) is getattr(factflow_infra.workers, name)
