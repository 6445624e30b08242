"""Filesystem specifics: layout on disk, atomic writes, a broken root."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from factflow_infra.storage import FilesystemStorageProvider, _fs_commit
from factflow_infra.storage._fs_commit import TEMP_SUFFIX
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


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync-fallback"])
async def test_concurrent_writes_commit_together_and_fail_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool
) -> None:
    # Writes waiting at the same moment are committed as one batch (one filesystem sync for the
    # batch's files, one for its renames); a write that cannot be stored fails on its own.
    syncs: list[int] = []
    real_syncfs = _fs_commit._SYNCFS
    if syncfs and real_syncfs is None:
        pytest.skip("no syncfs on this platform")

    def counted(fd: int) -> int:
        syncs.append(fd)
        assert real_syncfs is not None
        return real_syncfs(fd)

    monkeypatch.setattr(_fs_commit, "_SYNCFS", counted if syncfs else None)
    storage = FilesystemStorageProvider(tmp_path / "root")
    await storage.start()
    await storage.write("blocked", b"an object where a folder is needed")
    keys = [f"executions/e/r{n % 3}/s/{n:04d}.json" for n in range(200)]
    results = await asyncio.gather(
        storage.write("blocked/child.json", b"{}"),
        *(storage.write(key, f'{{"n":{n}}}'.encode(), {"n": n}) for n, key in enumerate(keys)),
        return_exceptions=True,
    )
    assert isinstance(results[0], InvalidStorageKeyError)
    assert all(not isinstance(result, BaseException) for result in results[1:])
    for n, key in enumerate(keys):
        assert await storage.read(key) == f'{{"n":{n}}}'.encode()
        assert (await storage.read_metadata(key))["n"] == n
    leftovers = [path for path in (tmp_path / "root").rglob("*") if path.name.endswith(TEMP_SUFFIX)]
    assert leftovers == []
    assert [key async for key in storage.list("executions/")] == sorted(keys)
    if syncfs:
        # Two syncs per batch, not three fsyncs per object.
        assert 2 <= len(syncs) <= 8


async def test_a_folder_pruned_by_a_delete_is_recreated_for_the_next_write(
    filesystem_storage: FilesystemStorageProvider,
) -> None:
    await filesystem_storage.write("a/b/one.json", b"1")
    await filesystem_storage.delete("a/b/one.json")
    assert not (filesystem_storage.root / "a").exists()
    await filesystem_storage.write("a/b/two.json", b"2")
    assert await filesystem_storage.read("a/b/two.json") == b"2"
