"""Filesystem specifics: layout on disk, atomic writes, a broken root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factflow_infra.storage import FilesystemStorageProvider
from factflow_protocols import InvalidStorageKeyError, StorageUnavailableError


async def test_object_and_sidecar_sit_at_key_paths(filesystem_storage: FilesystemStorageProvider) -> None:
    await filesystem_storage.write("executions/e/r/s/m.json", b"{}", {"kind": "stage_output"})
    root = filesystem_storage.root
    assert (root / "executions/e/r/s/m.json").read_bytes() == b"{}"
    sidecar = json.loads((root / "executions/e/r/s/m.json.meta.json").read_text())
    assert sidecar["kind"] == "stage_output"
    # No temporary file is left behind.
    assert sorted(path.name for path in (root / "executions/e/r/s").iterdir()) == ["m.json", "m.json.meta.json"]


async def test_leftover_temp_files_are_not_listed(filesystem_storage: FilesystemStorageProvider) -> None:
    await filesystem_storage.write("dir/a.json", b"{}")
    (filesystem_storage.root / "dir" / ".a.json.x1y2z3.factflow-tmp").write_bytes(b"partial")
    assert [key async for key in filesystem_storage.list()] == ["dir/a.json"]
    page = await filesystem_storage.list_page("dir/", delimiter="/")
    assert [entry.key for entry in page.objects] == ["dir/a.json"]


async def test_delete_prunes_empty_folders(filesystem_storage: FilesystemStorageProvider) -> None:
    await filesystem_storage.write("a/b/c/d.json", b"{}")
    await filesystem_storage.write("a/keep.json", b"{}")
    await filesystem_storage.delete("a/b/c/d.json")
    assert not (filesystem_storage.root / "a/b").exists()
    assert (filesystem_storage.root / "a/keep.json").exists()
    assert filesystem_storage.root.is_dir()


async def test_key_below_an_object_is_rejected(filesystem_storage: FilesystemStorageProvider) -> None:
    await filesystem_storage.write("a", b"1")
    with pytest.raises(InvalidStorageKeyError, match="parent segment"):
        await filesystem_storage.write("a/b", b"2")
    await filesystem_storage.write("x/y", b"3")
    with pytest.raises(InvalidStorageKeyError, match="folder"):
        await filesystem_storage.write("x", b"4")
    assert not await filesystem_storage.exists("x")


async def test_broken_root_is_unavailable(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    storage = FilesystemStorageProvider(not_a_dir)
    with pytest.raises(StorageUnavailableError) as info:
        await storage.start()
    assert info.value.code == "storage_unavailable"
    with pytest.raises(StorageUnavailableError, match="root"):
        await storage.write("k.json", b"{}")
    with pytest.raises(StorageUnavailableError):
        await storage.read("k.json")
    with pytest.raises(StorageUnavailableError):
        await storage.exists("k.json")
    with pytest.raises(StorageUnavailableError):
        [key async for key in storage.list()]
    health = await storage.health()
    assert (health.status, health.writable) == ("unhealthy", False)


async def test_missing_root_is_unavailable_until_started(tmp_path: Path) -> None:
    storage = FilesystemStorageProvider(tmp_path / "later")
    with pytest.raises(StorageUnavailableError, match="does not exist"):
        await storage.read("k.json")
    async with storage:
        await storage.write("k.json", b"{}")
        assert await storage.read("k.json") == b"{}"
