"""Group commit for filesystem storage: writes that arrive together are made durable together.

One object write is two files (the object and its sidecar). Made durable one by one, that is
three `fsync` calls per object (object, sidecar, folder), each a journal commit: a few hundred
objects per second on an ordinary disk, whatever the CPU. Here the writes waiting at the same
moment form a batch, committed in a worker thread in two phases:

1. every object and sidecar is written to a temporary file beside its target, then **one**
   `syncfs` makes all those bytes durable;
2. each object is renamed into place, then its sidecar (data first, as before), then **one**
   more `syncfs` makes the renames — and any folder created for them — durable.

Only then are the writers told their write succeeded, so each write is durable before it
returns, exactly as before, and at every moment a crash leaves the same states as per-file
`fsync` would: no target name ever points at bytes that were not durable first, and a sidecar
is never in place before its object. Where `syncfs` is missing (not Linux), the batch falls
back to `fsync` of each temporary file and of each folder touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import itertools
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from factflow_foundation import SIDECAR_SUFFIX
from factflow_protocols import InvalidStorageKeyError, StorageError, StorageUnavailableError

__all__ = ("TEMP_SUFFIX", "GroupCommitter", "sync_filesystem")

logger = logging.getLogger(__name__)

TEMP_SUFFIX = ".factflow-tmp"
"""Temporary files are `.<name>.<random>.factflow-tmp` beside their target; listings skip them."""

_MAX_BATCH = 512
"""Writes per batch; more wait for the next one."""
_MAX_IN_FLIGHT = 2
"""Batches committed at once (one writes while the other waits for the disk)."""


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    function = getattr(libc, "syncfs", None)
    if function is None:
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]  # a ctypes function: int -> int


_SYNCFS = _load_syncfs()


def sync_filesystem(fd: int) -> bool:
    """`syncfs(fd)`: make every write to the filesystem holding `fd` durable; False if unsupported.

    Raises:
        OSError: the sync failed (an I/O error: nothing written since the last sync is known durable).
    """
    if _SYNCFS is None:
        return False
    if _SYNCFS(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return True


@dataclass(slots=True, eq=False)
class _Write:
    key: str
    path: Path
    data: bytes
    sidecar: bytes
    future: asyncio.Future[None]
    temp_data: str | None = None
    temp_sidecar: str | None = None
    error: BaseException | None = None
    folders: list[Path] = field(default_factory=list)


class GroupCommitter:
    """Commits object writes of one filesystem root in batches (see the module docstring).

    Args:
        root: The storage root (every target lies below it).
        unavailable: Builds the `StorageUnavailableError` for an OS error during a write.
    """

    def __init__(self, root: Path, *, unavailable: Callable[[str, OSError], StorageUnavailableError]) -> None:
        self._root = root
        self._unavailable = unavailable
        self._pending: list[_Write] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._scheduled = False
        self._known_folders: set[Path] = set()
        self._names = itertools.count()
        self._token = f"{os.getpid():x}{secrets.token_hex(3)}"

    # ------------------------------------------------------------------ event loop side

    async def write(self, key: str, path: Path, data: bytes, sidecar: bytes) -> None:
        """Write `data` to `path` and `sidecar` beside it; returns once both are durable.

        Raises:
            InvalidStorageKeyError: a parent segment of the key is an object, or the key is a folder.
            StorageUnavailableError: the root is missing or the write failed.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Write(key, path, data, sidecar, future))
        self._schedule()
        await future

    def forget_folders(self) -> None:
        """Forget which folders exist (a delete may have pruned some)."""
        self._known_folders.clear()

    def _schedule(self) -> None:
        if self._scheduled or not self._pending or len(self._in_flight) >= _MAX_IN_FLIGHT:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._start_batch)

    def _start_batch(self) -> None:
        self._scheduled = False
        if not self._pending or len(self._in_flight) >= _MAX_IN_FLIGHT:
            return
        batch = self._pending[:_MAX_BATCH]
        del self._pending[:_MAX_BATCH]
        task = asyncio.create_task(self._run(batch), name="storage-group-commit")
        self._in_flight.add(task)
        task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._schedule()

    async def _run(self, batch: list[_Write]) -> None:
        try:
            # Shielded: a cancelled caller must not leave a half-committed batch unreported.
            await asyncio.shield(asyncio.to_thread(self._commit, batch))
        except BaseException as exc:  # the thread itself failed (never expected): fail the batch
            for write in batch:
                if write.error is None:
                    write.error = exc if isinstance(exc, Exception) else StorageUnavailableError(str(exc))
            if not isinstance(exc, Exception):
                self._settle(batch)
                raise
        self._settle(batch)

    @staticmethod
    def _settle(batch: list[_Write]) -> None:
        for write in batch:
            if write.future.done():
                continue
            if write.error is None:
                write.future.set_result(None)
            else:
                write.future.set_exception(write.error)

    # ------------------------------------------------------------------ worker thread side

    def _commit(self, batch: list[_Write]) -> None:
        """Phase 1 (temporary files, sync), phase 2 (renames, sync); errors land on each write."""
        try:
            root_fd = os.open(self._root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            error = StorageUnavailableError(
                f"Filesystem storage root {str(self._root)!r} does not exist or is not a directory."
            )
            error.__cause__ = exc
            for write in batch:
                write.error = error
            return
        try:
            for write in batch:
                self._stage(write)
            staged = [write for write in batch if write.error is None]
            if staged and not self._sync(root_fd, staged, phase=1):
                return
            for write in staged:
                self._rename(write)
            committed = [write for write in staged if write.error is None]
            if committed:
                self._sync(root_fd, committed, phase=2)
        finally:
            os.close(root_fd)
            for write in batch:
                self._remove_temporaries(write)

    def _stage(self, write: _Write) -> None:
        """Write the object and the sidecar to temporary files beside their targets."""
        try:
            folder = write.path.parent
            self._make_folder(write, folder)
            try:
                write.temp_data = self._write_temporary(folder, write.path.name, write.data)
            except FileNotFoundError:
                # A concurrent delete pruned the (then empty) folder; recreate it once.
                self._known_folders.discard(folder)
                self._make_folder(write, folder)
                write.temp_data = self._write_temporary(folder, write.path.name, write.data)
            write.temp_sidecar = self._write_temporary(folder, write.path.name + SIDECAR_SUFFIX, write.sidecar)
        except StorageError as exc:
            write.error = exc
        except OSError as exc:
            write.error = self._unavailable(write.key, exc)

    def _make_folder(self, write: _Write, folder: Path) -> None:
        if folder in self._known_folders:
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidStorageKeyError(
                f"Storage key {write.key!r} cannot be stored: a parent segment is already an object."
            ) from exc
        self._known_folders.add(folder)
        write.folders.append(folder)

    def _write_temporary(self, folder: Path, name: str, data: bytes) -> str:
        while True:
            temp = os.path.join(folder, f".{name}.{self._token}{next(self._names):x}{TEMP_SUFFIX}")
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:  # a name left by an earlier process with the same pid
                continue
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                if _SYNCFS is None:
                    os.fsync(fd)
            except BaseException:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            os.close(fd)
            return temp

    def _rename(self, write: _Write) -> None:
        """Move the object, then its sidecar, into place."""
        assert write.temp_data is not None and write.temp_sidecar is not None
        try:
            try:
                os.replace(write.temp_data, write.path)
            except IsADirectoryError as exc:
                raise InvalidStorageKeyError(
                    f"Storage key {write.key!r} cannot be stored: it is a folder of other objects."
                ) from exc
            write.temp_data = None
            os.replace(write.temp_sidecar, write.path.with_name(write.path.name + SIDECAR_SUFFIX))
            write.temp_sidecar = None
        except StorageError as exc:
            write.error = exc
        except OSError as exc:
            write.error = self._unavailable(write.key, exc)

    def _sync(self, root_fd: int, writes: list[_Write], *, phase: int) -> bool:
        """Make the batch's work so far durable; on failure every write of `writes` fails."""
        try:
            if not sync_filesystem(root_fd) and phase == 2:
                # Without syncfs the temporary files were fsynced one by one; the renames need
                # the folders (new ones included, up to the root) fsynced too.
                folders = {write.path.parent for write in writes}
                for write in writes:
                    for created in write.folders:
                        folders.update(parent for parent in created.parents if parent.is_relative_to(self._root))
                for folder in folders:
                    _fsync_folder(folder)
        except OSError as exc:
            for write in writes:
                write.error = self._unavailable(write.key, exc)
            return False
        return True

    @staticmethod
    def _remove_temporaries(write: _Write) -> None:
        for temp in (write.temp_data, write.temp_sidecar):
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
        write.temp_data = write.temp_sidecar = None


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
