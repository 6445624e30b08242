from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from factflow_engine.config import StorageMetadataConfig
from factflow_engine.storage import (
    RESERVED_SIDECAR_FIELDS,
    WRITTEN_BY,
    StageIdentity,
    StageStorageAdapter,
    StorageBackendAdapter,
    StorageBackoff,
    WriteProvenance,
    build_embedding_metadata,
)
from factflow_foundation import bytes_checksum, canonical_json
from factflow_infra.storage import FilesystemStorageProvider
from factflow_protocols import StorageObjectCreated, StorageUnavailableError, StoredObject

EXEC = "0190a000-0000-7000-8000-000000000001"
MSG = "0190a000-0000-7000-8000-0000000000aa"
PARENT = "0190a000-0000-7000-8000-0000000000bb"


@pytest.fixture
async def storage(tmp_path: Path) -> FilesystemStorageProvider:
    provider = FilesystemStorageProvider(tmp_path / "store")
    await provider.start()
    return provider


def _identity(**overrides: Any) -> StageIdentity:
    values: dict[str, Any] = {
        "execution_id": EXEC,
        "route_id": "scrape",
        "stage": "web/scraper",
        "adapter_name": "web_scraper",
        "adapter_index": 2,
        "config_hash": "sha256:abc",
        "config_id": "0190a000-0000-7000-8000-00000000c0f1",
        "config_version": 3,
    }
    values.update(overrides)
    return StageIdentity(**values)


def _provenance() -> WriteProvenance:
    return WriteProvenance(
        correlation_id=MSG,
        parent_correlation_id=PARENT,
        lineage_id="0190a000-0000-7000-8000-0000000000cc",
        replay_batch_id=None,
        original_object_key="executions/old/scrape/web/scraper/x.json",
        delivery_count=2,
    )


async def test_write_output_stores_canonical_json_and_exact_sidecar(storage: FilesystemStorageProvider) -> None:
    events: list[StorageObjectCreated] = []
    adapter = StageStorageAdapter(
        StorageBackendAdapter(storage),
        identity=_identity(),
        config=StorageMetadataConfig.model_validate(
            {"metadata_fields": ["page.title", {"name": "link", "path": "url"}, "missing.value"]}
        ),
        on_object_created=events.append,
    )
    payload = {"url": "https://a.example", "page": {"title": "A"}, "z": 1, "a": [1, 2]}

    result = await adapter.write_output(payload, provenance=_provenance(), storage_metadata={"extra": True})

    key = f"executions/{EXEC}/scrape/web/scraper/{MSG}.json"
    assert result.key == key
    assert result.written
    body = await storage.read(key)
    assert body == canonical_json(payload)
    assert result.checksum == bytes_checksum(body)
    assert result.size == len(body)
    sidecar = await storage.read_metadata(key)
    created_at = sidecar.pop("created_at")
    sidecar.pop("modified_at", None)  # added by the provider on read
    assert created_at.endswith("Z")
    assert sidecar == {
        "schema_version": 1,
        "kind": "stage_output",
        "key": key,
        "content_type": "application/json",
        "content_length": len(body),
        "checksum": bytes_checksum(body),
        "execution_id": EXEC,
        "route_id": "scrape",
        "stage": "web/scraper",
        "adapter_name": "web_scraper",
        "adapter_index": 2,
        "correlation_id": MSG,
        "parent_correlation_id": PARENT,
        "lineage_id": "0190a000-0000-7000-8000-0000000000cc",
        "config_id": "0190a000-0000-7000-8000-00000000c0f1",
        "config_version": 3,
        "config_hash": "sha256:abc",
        "replay_batch_id": None,
        "original_object_key": "executions/old/scrape/web/scraper/x.json",
        "delivery_count": 2,
        "written_by": WRITTEN_BY,
        "title": "A",
        "link": "https://a.example",
        "extra": True,
    }
    assert [event.data() for event in events] == [
        {
            "key": key,
            "route_id": "scrape",
            "stage": "web/scraper",
            "adapter_name": "web_scraper",
            "correlation_id": MSG,
            "content_type": "application/json",
            "size": len(body),
            "created_at": created_at,
        }
    ]
    assert await adapter.read_output(MSG) == payload
    assert await adapter.exists(MSG)
    assert not await adapter.exists(MSG, manifest=True)


async def test_reserved_custom_fields_are_dropped_with_warning(
    storage: FilesystemStorageProvider, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = StageStorageAdapter(StorageBackendAdapter(storage), identity=_identity())
    with caplog.at_level(logging.WARNING):
        result = await adapter.write_output(
            {"x": 1}, provenance=_provenance(), storage_metadata={"checksum": "forged", "route_id": "evil", "ok": 1}
        )
    sidecar = await storage.read_metadata(result.key)
    assert sidecar["checksum"] == result.checksum
    assert sidecar["route_id"] == "scrape"
    assert sidecar["ok"] == 1
    assert "collides with a reserved field" in caplog.text


async def test_manifest_has_children_and_body(storage: FilesystemStorageProvider) -> None:
    adapter = StageStorageAdapter(StorageBackendAdapter(storage), identity=_identity())
    result = await adapter.write_manifest(MSG, ["c1", "c2"], message_continues=True, provenance=_provenance())
    assert result.key == f"executions/{EXEC}/scrape/web/scraper/{MSG}.fanout.json"
    assert json.loads(await storage.read(result.key)) == {
        "message_id": MSG,
        "children": ["c1", "c2"],
        "message_continues": True,
    }
    sidecar = await storage.read_metadata(result.key)
    assert sidecar["kind"] == "fanout_manifest"
    assert sidecar["children"] == ["c1", "c2"]
    assert set(sidecar) - {"modified_at"} == RESERVED_SIDECAR_FIELDS
    assert await adapter.read_manifest(MSG) == {"message_id": MSG, "children": ["c1", "c2"], "message_continues": True}
    assert await adapter.exists(MSG, manifest=True)


async def test_disabled_storage_writes_nothing(storage: FilesystemStorageProvider) -> None:
    adapter = StageStorageAdapter(
        StorageBackendAdapter(storage), identity=_identity(), config=StorageMetadataConfig(enabled=False)
    )
    result = await adapter.write_output({"x": 1}, provenance=_provenance())
    assert not result.written
    assert [key async for key in storage.list("")] == []
    assert await adapter.read_output(MSG) is None
    assert not await adapter.exists(MSG)


async def test_missing_output_reads_as_none(storage: FilesystemStorageProvider) -> None:
    adapter = StageStorageAdapter(StorageBackendAdapter(storage), identity=_identity())
    assert await adapter.read_output(MSG) is None
    assert await adapter.read_manifest(MSG) is None


class FlakyStorage:
    """Fails the first `failures` writes with StorageUnavailableError, then delegates."""

    def __init__(self, inner: FilesystemStorageProvider, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.attempts = 0

    async def write(
        self, key: str, data: bytes, metadata: dict[str, Any] | None = None, *, content_type: str = "application/json"
    ) -> StoredObject:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise StorageUnavailableError("down")
        return await self.inner.write(key, data, metadata, content_type=content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_backend_retries_three_times_after_half_one_two_seconds(storage: FilesystemStorageProvider) -> None:
    waits: list[float] = []

    async def record(delay: float) -> None:
        waits.append(delay)

    flaky = FlakyStorage(storage, failures=3)
    backend = StorageBackendAdapter(flaky, sleep=record)
    await backend.write_json("a/b.json", {"x": 1}, {})
    assert waits == [0.5, 1.0, 2.0]
    assert flaky.attempts == 4
    assert backend.counters.writes_total == 1
    assert backend.counters.write_failures_total == 3


async def test_backend_gives_up_after_three_retries(storage: FilesystemStorageProvider) -> None:
    async def no_wait(delay: float) -> None:
        return None

    flaky = FlakyStorage(storage, failures=10)
    backend = StorageBackendAdapter(flaky, sleep=no_wait)
    with pytest.raises(StorageUnavailableError):
        await backend.write_json("a/b.json", {"x": 1}, {})
    assert flaky.attempts == 4


async def test_backoff_retries_until_storage_is_back_and_reports_state(storage: FilesystemStorageProvider) -> None:
    changes: list[bool] = []
    flaky = FlakyStorage(storage, failures=6)
    backend = StorageBackendAdapter(flaky, retry_delays=(0.0,))
    backoff = StorageBackoff(initial_delay=0.001, max_delay=0.004, on_change=changes.append)
    adapter = StageStorageAdapter(backend, identity=_identity(), backoff=backoff)
    result = await adapter.write_output({"x": 1}, provenance=_provenance())
    assert result.written
    assert flaky.attempts == 7
    assert changes == [True, False]
    assert not backoff.active


def test_build_embedding_metadata() -> None:
    assert build_embedding_metadata({"embeddings": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], "slot": "default"}) == {
        "embedding_model": None,
        "embedding_slot": "default",
        "embedding_dimensions": 3,
        "embedding_count": 2,
    }
    assert build_embedding_metadata({"embedding": [1.0, 2.0], "model": "m1"}, model="m2") == {
        "embedding_model": "m2",
        "embedding_slot": None,
        "embedding_dimensions": 2,
        "embedding_count": 1,
    }
    assert build_embedding_metadata({})["embedding_count"] == 0


async def test_backoff_ends_its_wait_once_the_probe_finds_storage_back() -> None:
    back = asyncio.Event()
    attempts = 0
    probes = 0

    async def write() -> str:
        nonlocal attempts
        attempts += 1
        if not back.is_set():
            raise StorageUnavailableError("store down")
        return "stored"

    async def probe() -> bool:
        nonlocal probes
        probes += 1
        return back.is_set()

    # A 60 s wait (what a long outage doubles up to) is cut short within one probe period.
    backoff = StorageBackoff(initial_delay=60.0, max_delay=60.0, probe=probe, probe_interval=0.02)
    task = asyncio.create_task(backoff.run(write, what="k"))
    await asyncio.sleep(0.1)
    assert not task.done() and attempts == 1 and probes >= 1
    back.set()
    assert await asyncio.wait_for(task, 5) == "stored"
    assert attempts == 2


async def test_backoff_without_a_probe_or_with_a_failing_probe_waits_its_delay() -> None:
    async def broken_probe() -> bool:
        raise OSError("probe failed")

    for probe in (None, broken_probe):
        calls = 0

        async def write() -> int:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StorageUnavailableError("down")
            return calls

        backoff = StorageBackoff(initial_delay=0.2, max_delay=0.2, probe=probe, probe_interval=0.05)
        started = asyncio.get_running_loop().time()
        assert await backoff.run(write, what="k") == 2
        assert asyncio.get_running_loop().time() - started >= 0.19
