"""The `StorageProtocol` contract and the folder view, run against every provider."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minio import Minio

from factflow_foundation import bytes_checksum
from factflow_infra.storage import (
    FilesystemStorageProvider,
    MinioStorageProvider,
    ObjectEntry,
    PrefixEntry,
    StorageProvider,
)
from factflow_infra.testing._s3 import S3TestServer
from factflow_protocols import InvalidStorageKeyError, StorageNotFoundError, StorageProtocol

INVALID_KEYS = ["", "/leading", "a//b", "a/../b", "./a", "a\\b", "x.meta.json", "a/b.meta.json", "k" * 1025, "a\nb"]


async def collect(storage: StorageProvider, prefix: str = "") -> list[str]:
    return [key async for key in storage.list(prefix)]


def raw_put(request: pytest.FixtureRequest, storage: StorageProvider, key: str, data: bytes) -> None:
    """Store an object behind the provider's back, without a sidecar."""
    if isinstance(storage, FilesystemStorageProvider):
        path = storage.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    assert isinstance(storage, MinioStorageProvider)
    server: S3TestServer = request.getfixturevalue("s3_server")
    client = Minio(server.endpoint, server.access_key, server.secret_key, secure=False, region=server.region)
    client.put_object(
        storage.bucket, storage.prefix + key, io.BytesIO(data), len(data), content_type="application/json"
    )


def test_providers_satisfy_the_protocol(storage_provider: StorageProvider) -> None:
    assert isinstance(storage_provider, StorageProtocol)


async def test_write_then_read_returns_the_bytes(storage_provider: StorageProvider) -> None:
    data = b'{"answer":42}'
    stored = await storage_provider.write("executions/e/r/s/m.json", data)
    assert stored.key == "executions/e/r/s/m.json"
    assert stored.size == len(data)
    assert stored.checksum == bytes_checksum(data)
    assert stored.content_type == "application/json"
    assert await storage_provider.read("executions/e/r/s/m.json") == data


async def test_overwrite_replaces_object_and_sidecar(storage_provider: StorageProvider) -> None:
    await storage_provider.write("doc.md", b"first", {"custom": "old"}, content_type="text/markdown")
    stored = await storage_provider.write("doc.md", b"second version", content_type="text/plain")
    assert await storage_provider.read("doc.md") == b"second version"
    metadata = await storage_provider.read_metadata("doc.md")
    assert "custom" not in metadata
    assert metadata["checksum"] == stored.checksum == bytes_checksum(b"second version")
    assert metadata["content_length"] == len(b"second version")
    assert metadata["content_type"] == "text/plain"
    assert await collect(storage_provider) == ["doc.md"]


async def test_sidecar_round_trip_keeps_unknown_fields(storage_provider: StorageProvider) -> None:
    sidecar = {
        "schema_version": 1,
        "kind": "stage_output",
        "execution_id": "0190c0de-0000-7000-8000-000000000001",
        "route_id": "scrape",
        "stage": "fetch/html",
        "correlation_id": "0190c0de-0000-7000-8000-000000000002",
        "created_at": "2025-03-01T09:30:12.345678Z",
        "title": "Ünïcødé title",
        "custom_scores": {"relevance": 0.5, "tags": ["a", "b"]},
    }
    data = b'{"x":1}'
    stored = await storage_provider.write("a/out.json", data, sidecar)
    metadata = await storage_provider.read_metadata("a/out.json")
    for name, value in sidecar.items():
        assert metadata[name] == value
    assert metadata["key"] == "a/out.json"
    assert metadata["content_type"] == "application/json"
    assert metadata["content_length"] == len(data)
    assert metadata["checksum"] == bytes_checksum(data)
    assert stored.metadata["custom_scores"] == {"relevance": 0.5, "tags": ["a", "b"]}
    assert "modified_at" in metadata


async def test_object_facts_in_the_sidecar_describe_the_bytes(storage_provider: StorageProvider) -> None:
    await storage_provider.write("k.json", b"abc", {"checksum": "sha256:wrong", "content_length": 99, "key": "other"})
    metadata = await storage_provider.read_metadata("k.json")
    assert (metadata["key"], metadata["content_length"], metadata["checksum"]) == ("k.json", 3, bytes_checksum(b"abc"))


async def test_write_rejects_metadata_that_is_not_json(storage_provider: StorageProvider) -> None:
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        await storage_provider.write("bad.json", b"{}", {"when": datetime.now(UTC)})
    assert not await storage_provider.exists("bad.json")


async def test_read_metadata_without_sidecar_returns_basic_facts(
    request: pytest.FixtureRequest, storage_provider: StorageProvider
) -> None:
    raw_put(request, storage_provider, "raw/plain.json", b"[1, 2, 3]")
    metadata = await storage_provider.read_metadata("raw/plain.json")
    assert set(metadata) == {"key", "content_type", "content_length", "modified_at"}
    assert metadata["key"] == "raw/plain.json"
    assert metadata["content_type"] == "application/json"
    assert metadata["content_length"] == 9
    modified = datetime.strptime(metadata["modified_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - modified) < timedelta(minutes=5)


async def test_exists_and_delete(storage_provider: StorageProvider) -> None:
    assert not await storage_provider.exists("gone/soon.json")
    await storage_provider.write("gone/soon.json", b"{}", {"kind": "artefact"})
    assert await storage_provider.exists("gone/soon.json")
    await storage_provider.delete("gone/soon.json")
    assert not await storage_provider.exists("gone/soon.json")
    with pytest.raises(StorageNotFoundError):
        await storage_provider.read_metadata("gone/soon.json")
    assert await collect(storage_provider) == []
    assert [entry async for entry in storage_provider.list_entries("", delimiter="/")] == []
    await storage_provider.delete("gone/soon.json")
    await storage_provider.delete("never/written.json")


async def test_missing_objects_raise_not_found(storage_provider: StorageProvider) -> None:
    with pytest.raises(StorageNotFoundError, match="missing.json") as info:
        await storage_provider.read("missing.json")
    assert info.value.code == "object_not_found"
    with pytest.raises(StorageNotFoundError):
        await storage_provider.read_metadata("missing.json")


LIST_KEYS = ["b.json", "a/x", "a-b", "a0", "a/b/c.json", "a/b.json", ".hidden", "z/deep/er/most.txt", "a/b/c.jsonl"]


async def test_list_is_recursive_lexicographic_without_sidecars(storage_provider: StorageProvider) -> None:
    for key in LIST_KEYS:
        await storage_provider.write(key, key.encode(), {"kind": "artefact"})
    assert await collect(storage_provider) == sorted(LIST_KEYS)
    assert await collect(storage_provider, "a/") == ["a/b.json", "a/b/c.json", "a/b/c.jsonl", "a/x"]
    assert await collect(storage_provider, "a") == sorted(key for key in LIST_KEYS if key.startswith("a"))
    assert await collect(storage_provider, "a/b/c") == ["a/b/c.json", "a/b/c.jsonl"]
    assert await collect(storage_provider, "nothing/here/") == []


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_key_rules_are_enforced(storage_provider: StorageProvider, key: str) -> None:
    with pytest.raises(InvalidStorageKeyError) as info:
        await storage_provider.write(key, b"x")
    assert info.value.code == "invalid_key"
    with pytest.raises(InvalidStorageKeyError):
        await storage_provider.read(key)
    with pytest.raises(InvalidStorageKeyError):
        await storage_provider.read_metadata(key)
    with pytest.raises(InvalidStorageKeyError):
        await storage_provider.exists(key)
    with pytest.raises(InvalidStorageKeyError):
        await storage_provider.delete(key)


@pytest.mark.parametrize("prefix", ["/a", "a//", "../", "a\\"])
async def test_list_rejects_bad_prefixes(storage_provider: StorageProvider, prefix: str) -> None:
    with pytest.raises(InvalidStorageKeyError):
        await collect(storage_provider, prefix)


FOLDER_KEYS = [
    "executions/e1/r1/s1/m1.json",
    "executions/e1/r1/s1/m2.json",
    "executions/e1/r2/s1/m3.json",
    "executions/e1/top.json",
    "executions/e1-extra.json",
    "executions/e2/r1/s/m.fanout.json",
    "other.txt",
]


@pytest.fixture
async def folder_storage(storage_provider: StorageProvider) -> StorageProvider:
    for key in FOLDER_KEYS:
        await storage_provider.write(key, b"{}", {"kind": "stage_output"})
    return storage_provider


def entry_keys(entries: tuple[ObjectEntry | PrefixEntry, ...]) -> list[str]:
    return [entry.sort_key for entry in entries]


async def test_folder_view_merges_objects_and_prefixes_in_key_order(folder_storage: StorageProvider) -> None:
    page = await folder_storage.list_page("executions/", delimiter="/")
    # `-` sorts before `/`, so the object comes before the `e1/` folder.
    assert entry_keys(page.entries) == ["executions/e1-extra.json", "executions/e1/", "executions/e2/"]
    assert page.common_prefixes == ("executions/e1/", "executions/e2/")
    assert [entry.key for entry in page.objects] == ["executions/e1-extra.json"]
    assert (page.total, page.has_more, page.prefix, page.delimiter) == (3, False, "executions/", "/")

    inner = await folder_storage.list_page("executions/e1/", delimiter="/")
    assert entry_keys(inner.entries) == ["executions/e1/r1/", "executions/e1/r2/", "executions/e1/top.json"]

    partial = await folder_storage.list_page("executions/e", delimiter="/")
    assert entry_keys(partial.entries) == ["executions/e1-extra.json", "executions/e1/", "executions/e2/"]

    root = await folder_storage.list_page("", delimiter="/")
    assert entry_keys(root.entries) == ["executions/", "other.txt"]


async def test_folder_view_objects_carry_listing_facts(folder_storage: StorageProvider) -> None:
    page = await folder_storage.list_page("executions/e1/", delimiter="/")
    (top,) = page.objects
    assert top.key == "executions/e1/top.json"
    assert top.size == 2
    assert top.content_type == "application/json"
    assert top.last_modified.tzinfo is not None
    assert abs(datetime.now(UTC) - top.last_modified) < timedelta(minutes=5)
    other = (await folder_storage.list_page("", delimiter="/")).objects[0]
    assert other.content_type == "application/octet-stream"


async def test_folder_view_pages_objects_and_prefixes_together(folder_storage: StorageProvider) -> None:
    first = await folder_storage.list_page("executions/", delimiter="/", limit=2)
    assert entry_keys(first.entries) == ["executions/e1-extra.json", "executions/e1/"]
    assert (first.total, first.has_more) == (3, True)
    second = await folder_storage.list_page("executions/", delimiter="/", limit=2, offset=2)
    assert entry_keys(second.entries) == ["executions/e2/"]
    assert (second.total, second.has_more) == (3, False)
    beyond = await folder_storage.list_page("executions/", delimiter="/", limit=2, offset=10)
    assert (beyond.entries, beyond.total, beyond.has_more) == ((), 3, False)


async def test_recursive_page_lists_every_object(folder_storage: StorageProvider) -> None:
    page = await folder_storage.list_page("executions/", limit=1000)
    assert entry_keys(page.entries) == sorted(key for key in FOLDER_KEYS if key.startswith("executions/"))
    assert page.common_prefixes == ()
    assert entry_keys(page.entries) == await collect(folder_storage, "executions/")


async def test_page_filter_counts_only_matches(folder_storage: StorageProvider) -> None:
    def is_fanout(entry: ObjectEntry | PrefixEntry) -> bool:
        return isinstance(entry, ObjectEntry) and entry.key.endswith(".fanout.json")

    page = await folder_storage.list_page("", include=is_fanout, limit=10)
    assert entry_keys(page.entries) == ["executions/e2/r1/s/m.fanout.json"]
    assert page.total == 1


async def test_list_page_rejects_bad_arguments(storage_provider: StorageProvider) -> None:
    with pytest.raises(ValueError, match="delimiter"):
        await storage_provider.list_page("", delimiter="|")  # type: ignore[arg-type]  # invalid on purpose
    with pytest.raises(ValueError, match="limit"):
        await storage_provider.list_page("", limit=0)
    with pytest.raises(InvalidStorageKeyError):
        await storage_provider.list_page("/abs", delimiter="/")


async def test_health_is_healthy_and_writable(storage_provider: StorageProvider) -> None:
    health = await storage_provider.health()
    assert (health.status, health.writable, health.provider) == ("healthy", True, storage_provider.provider_name)


async def test_shutdown_is_idempotent(tmp_path: Path, storage_provider: StorageProvider) -> None:
    await storage_provider.shutdown()
    await storage_provider.shutdown()


async def test_concurrent_writes_of_one_key_keep_object_and_sidecar_together(storage_provider: StorageProvider) -> None:
    payloads = [f'{{"attempt":{attempt}}}'.encode() * (attempt + 1) for attempt in range(12)]
    await asyncio.gather(
        *(storage_provider.write("race/m.json", data, {"attempt": index}) for index, data in enumerate(payloads))
    )
    data = await storage_provider.read("race/m.json")
    metadata = await storage_provider.read_metadata("race/m.json")
    assert metadata["checksum"] == bytes_checksum(data)
    assert payloads[metadata["attempt"]] == data
