"""Storage fixtures: filesystem, and one parametrized over every provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from ..storage import FilesystemStorageProvider, StorageProvider

__all__ = ("STORAGE_PROVIDERS", "filesystem_storage", "storage_provider")

STORAGE_PROVIDERS = ("filesystem", "s3")
"""Ids of `storage_provider`'s parameters."""


@pytest.fixture
async def filesystem_storage(tmp_path: Path) -> AsyncIterator[FilesystemStorageProvider]:
    """A started `FilesystemStorageProvider` rooted in the test's `tmp_path`."""
    provider = FilesystemStorageProvider(tmp_path / "storage")
    await provider.start()
    try:
        yield provider
    finally:
        await provider.shutdown()


@pytest.fixture(params=STORAGE_PROVIDERS)
def storage_provider(request: pytest.FixtureRequest) -> StorageProvider:
    """Each provider in turn (`filesystem`, `s3` on moto): for contract tests."""
    return cast(StorageProvider, request.getfixturevalue(f"{request.param}_storage"))
