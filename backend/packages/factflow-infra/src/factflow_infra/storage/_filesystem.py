"""`FilesystemStorageProvider`: objects as files under a root directory (docs/guides/deployment.md)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from factflow_foundation import SIDECAR_SUFFIX
from factflow_protocols import (
    StorageError,
    StorageHealth,
    StorageNotFoundError,
    StorageUnavailableError,
    StoredObject,
    validate_storage_key,
)

from ._common import (
    KeyLocks,
    basic_metadata,
    build_sidecar,
    decode_sidecar,
    encode_sidecar,
    guess_content_type,
    iterate_in_thread,
    merge_object_facts,
)
from ._fs_commit import TEMP_SUFFIX, GroupCommitter
from ._listing import Delimiter, ListingEntry, ListingPage, ObjectEntry, PrefixEntry, check_listing_args, collect_page

__all__ = ("TEMP_SUFFIX", "FilesystemStorageProvider")

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _is_hidden_file(name: str) -> bool:
    return name.endswith(SIDECAR_SUFFIX) or (name.startswith(".") and name.endswith(TEMP_SUFFIX))


def _scan(directory: Path, name_prefix: str) -> list[tuple[str, bool]]:
    """`(name, is_dir)` of the listable entries of `directory`, in key order; [] if it is gone."""
    try:
        with os.scandir(directory) as scanner:
            found = [(entry.name, entry.is_dir()) for entry in scanner if entry.name.startswith(name_prefix)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    listable = [(name, is_dir) for name, is_dir in found if is_dir or not _is_hidden_file(name)]
    # A directory sorts as `name/`, so a depth-first walk yields keys in exact lexicographic
    # order (`a-b` < `a/x` because `-` < `/`).
    listable.sort(key=lambda item: item[0] + "/" if item[1] else item[0])
    return listable


class FilesystemStorageProvider:
    """Stores each object at `<root>/<key>` and its sidecar at `<root>/<key>.meta.json`.

    Writes go to a temporary file that is made durable and moved into place with `os.replace`,
    data first, then the sidecar, so a reader never sees a partial object. Concurrent writes are
    committed together, with one filesystem sync for the batch's files and one for its renames
    (`GroupCommitter`), instead of three `fsync` calls per object. All I/O runs in threads
    (`asyncio.to_thread`). The root is created by `start()`; while it is missing every
    operation raises `StorageUnavailableError`.

    Args:
        root: Directory holding the objects.
    """

    provider_name = "filesystem"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).expanduser().absolute()
        self._key_locks = KeyLocks()
        self._committer = GroupCommitter(self._root, unavailable=lambda key, exc: self._unavailable("write", key, exc))

    def __repr__(self) -> str:
        return f"FilesystemStorageProvider(root={str(self._root)!r})"

    @property
    def root(self) -> Path:
        """The root directory."""
        return self._root

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the root directory if missing.

        Raises:
            StorageUnavailableError: the root cannot be created.
        """
        try:
            await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailableError(
                f"Cannot create filesystem storage root {str(self._root)!r}: {exc.strerror or exc}."
            ) from exc

    async def shutdown(self) -> None:
        """Nothing to release; present for the provider lifecycle."""

    async def __aenter__(self) -> FilesystemStorageProvider:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ helpers

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*key.split("/"))

    def _check_root(self) -> None:
        if not self._root.is_dir():
            raise StorageUnavailableError(
                f"Filesystem storage root {str(self._root)!r} does not exist or is not a directory."
            )

    def _unavailable(self, action: str, key: str, exc: OSError) -> StorageUnavailableError:
        return StorageUnavailableError(
            f"Filesystem storage at {str(self._root)!r} could not {action} {key!r}: {exc.strerror or exc}."
        )

    async def _run(self, action: str, key: str, func: Callable[[], T]) -> T:
        """Run blocking `func` in a thread; unexpected OS errors become `StorageUnavailableError`."""
        try:
            return await asyncio.to_thread(func)
        except StorageError:
            raise
        except OSError as exc:
            raise self._unavailable(action, key, exc) from exc

    def _not_found(self, key: str) -> StorageNotFoundError:
        self._check_root()
        return StorageNotFoundError(f"No object is stored at key {key!r}.")

    # ------------------------------------------------------------------ StorageProtocol

    async def write(
        self,
        key: str,
        data: bytes,
        metadata: dict[str, Any] | None = None,
        *,
        content_type: str = "application/json",
    ) -> StoredObject:
        """Write the object, then its sidecar; both are durable when this returns.

        The sidecar holds `metadata` plus `key`, `content_type`, `content_length` and
        `checksum` of the bytes (and `created_at` unless given).

        Raises:
            InvalidStorageKeyError: the key breaks the key rules, or a parent segment of it is
                already an object.
            ValueError: `metadata` is not JSON-serialisable.
            StorageUnavailableError: the root is missing or the write failed.
        """
        validate_storage_key(key)
        sidecar = build_sidecar(key, data, metadata, content_type)
        sidecar_bytes = encode_sidecar(key, sidecar)
        path = self._path(key)
        async with self._key_locks(key):
            await self._committer.write(key, path, data, sidecar_bytes)
        return StoredObject(
            key=key, size=len(data), checksum=sidecar["checksum"], content_type=content_type, metadata=sidecar
        )

    async def read(self, key: str) -> bytes:
        """The object's bytes.

        Raises:
            StorageNotFoundError: nothing is stored at `key`.
            StorageUnavailableError: the root is missing or the read failed.
        """
        validate_storage_key(key)
        path = self._path(key)

        def read_bytes() -> bytes:
            try:
                return path.read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
                raise self._not_found(key) from exc

        return await self._run("read", key, read_bytes)

    async def read_metadata(self, key: str) -> dict[str, Any]:
        """The sidecar with unknown fields kept, or the object's basic facts.

        Without a sidecar the result is `key`, `content_type`, `content_length` and
        `modified_at`; a sidecar lacking any of them gets them filled from the file.

        Raises:
            StorageNotFoundError: the object is missing (a missing sidecar is not an error).
            StorageUnavailableError: the root is missing or the read failed.
        """
        validate_storage_key(key)
        path = self._path(key)

        def read_sidecar() -> dict[str, Any]:
            try:
                stat = path.stat()
            except (FileNotFoundError, NotADirectoryError) as exc:
                raise self._not_found(key) from exc
            if not path.is_file():
                raise self._not_found(key)
            facts = basic_metadata(
                key,
                content_type=guess_content_type(key),
                content_length=stat.st_size,
                modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
            )
            try:
                raw = path.with_name(path.name + SIDECAR_SUFFIX).read_bytes()
            except FileNotFoundError:
                return facts
            sidecar = decode_sidecar(raw)
            if sidecar is None:
                logger.warning("Sidecar of storage key %r is not a JSON object; returning basic facts", key)
                return facts
            return merge_object_facts(sidecar, facts)

        return await self._run("read the metadata of", key, read_sidecar)

    async def exists(self, key: str) -> bool:
        """Whether an object is stored at `key`."""
        validate_storage_key(key)
        path = self._path(key)

        def is_file() -> bool:
            self._check_root()
            return path.is_file()

        return await self._run("check", key, is_file)

    async def delete(self, key: str) -> None:
        """Remove the object, then its sidecar, then folders left empty; a missing key is a no-op."""
        validate_storage_key(key)
        path = self._path(key)

        def remove() -> None:
            self._check_root()
            for target in (path, path.with_name(path.name + SIDECAR_SUFFIX)):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    target.unlink()
            self._prune(path.parent)

        async with self._key_locks(key):
            await self._run("delete", key, remove)
        self._committer.forget_folders()

    def _prune(self, directory: Path) -> None:
        """Remove empty folders up to the root, so folder views match S3 (no empty prefixes)."""
        while directory != self._root and self._root in directory.parents:
            try:
                directory.rmdir()
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    return
                raise
            directory = directory.parent

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        """Keys under `prefix`, recursive and lexicographic; sidecars and temp files excluded.

        `prefix` is a plain string prefix (`executions/ab` matches `executions/abc/...`).
        """
        check_listing_args(prefix, None)
        await self._run("list", prefix, self._check_root)
        async for key in iterate_in_thread(self._walk_keys(prefix), self._in_thread):
            yield key

    async def _in_thread(self, func: Callable[[], T]) -> T:
        return await self._run("list", "", func)

    def _split_prefix(self, prefix: str) -> tuple[Path, str, str]:
        folder, _, name_prefix = prefix.rpartition("/")
        directory = self._path(folder) if folder else self._root
        return directory, (folder + "/" if folder else ""), name_prefix

    def _walk_keys(self, prefix: str) -> Iterator[str]:
        directory, key_base, name_prefix = self._split_prefix(prefix)
        yield from self._walk(directory, key_base, name_prefix)

    def _walk(self, directory: Path, key_base: str, name_prefix: str) -> Iterator[str]:
        for name, is_dir in _scan(directory, name_prefix):
            if is_dir:
                yield from self._walk(directory / name, f"{key_base}{name}/", "")
            else:
                yield key_base + name

    # ------------------------------------------------------------------ folder view

    async def list_entries(
        self, prefix: str = "", *, delimiter: Delimiter | None = None
    ) -> AsyncIterator[ListingEntry]:
        """Objects under `prefix` with their facts, in key order.

        With `delimiter="/"`, only one folder level: the objects directly under `prefix` and a
        `PrefixEntry` per sub-folder. Without it, every object below `prefix`.
        """
        check_listing_args(prefix, delimiter)
        await self._run("list", prefix, self._check_root)
        entries = self._folder_entries(prefix) if delimiter else self._recursive_entries(prefix)
        async for entry in iterate_in_thread(entries, self._in_thread):
            yield entry

    async def list_page(
        self,
        prefix: str = "",
        *,
        delimiter: Delimiter | None = None,
        limit: int = 100,
        offset: int = 0,
        include: Callable[[ListingEntry], bool] | None = None,
    ) -> ListingPage:
        """One page of `list_entries`: `total` counts every match, only the window is kept."""
        return await collect_page(
            self.list_entries(prefix, delimiter=delimiter),
            prefix=prefix,
            delimiter=delimiter,
            limit=limit,
            offset=offset,
            include=include,
        )

    def _object_entry(self, key: str) -> ObjectEntry | None:
        try:
            stat = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None  # deleted since the folder was scanned
        return ObjectEntry(
            key=key,
            size=stat.st_size,
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            content_type=guess_content_type(key),
        )

    def _recursive_entries(self, prefix: str) -> Iterator[ListingEntry]:
        for key in self._walk_keys(prefix):
            entry = self._object_entry(key)
            if entry is not None:
                yield entry

    def _folder_entries(self, prefix: str) -> Iterator[ListingEntry]:
        directory, key_base, name_prefix = self._split_prefix(prefix)
        for name, is_dir in _scan(directory, name_prefix):
            if is_dir:
                yield PrefixEntry(prefix=f"{key_base}{name}/")
                continue
            entry = self._object_entry(key_base + name)
            if entry is not None:
                yield entry

    async def health(self) -> StorageHealth:
        """`healthy` when the root is a writable directory, else `unhealthy`; never raises."""

        def probe() -> tuple[bool, bool]:
            return self._root.is_dir(), os.access(self._root, os.W_OK | os.X_OK)

        try:
            is_dir, writable = await asyncio.to_thread(probe)
        except OSError as exc:
            return StorageHealth(provider=self.provider_name, status="unhealthy", writable=False, message=str(exc))
        if not is_dir:
            return StorageHealth(
                provider=self.provider_name,
                status="unhealthy",
                writable=False,
                message=f"storage root {str(self._root)!r} is missing",
            )
        if not writable:
            return StorageHealth(
                provider=self.provider_name,
                status="unhealthy",
                writable=False,
                message=f"storage root {str(self._root)!r} is not writable",
            )
        return StorageHealth(provider=self.provider_name, status="healthy", writable=True)
