"""The filesystem provider refuses every key that could name a file outside its root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from factflow_infra.storage import FilesystemStorageProvider
from factflow_protocols import InvalidStorageKeyError

SECRET = b"top-secret-outside-storage"


@pytest_asyncio.fixture
async def jailed(tmp_path: Path) -> AsyncIterator[tuple[FilesystemStorageProvider, Path]]:
    (tmp_path / "secret.txt").write_bytes(SECRET)
    provider = FilesystemStorageProvider(tmp_path / "storage")
    async with provider:
        yield provider, tmp_path / "secret.txt"


def _keys(secret: Path) -> list[str]:
    return [
        "../secret.txt",
        "a/../../secret.txt",
        "../" * 8 + "secret.txt",
        str(secret),
        "//" + str(secret).lstrip("/"),
        "..\\secret.txt",
        "a\\..\\..\\secret.txt",
        "secret.txt\x00",
        "\x00../secret.txt",
        "./secret.txt",
        "..",
        ".",
        "",
    ]


async def test_every_operation_refuses_escaping_keys(jailed: tuple[FilesystemStorageProvider, Path]) -> None:
    provider, secret = jailed
    for key in _keys(secret):
        with pytest.raises(InvalidStorageKeyError):
            await provider.read(key)
        with pytest.raises(InvalidStorageKeyError):
            await provider.read_metadata(key)
        with pytest.raises(InvalidStorageKeyError):
            await provider.exists(key)
        with pytest.raises(InvalidStorageKeyError):
            await provider.write(key, b"overwrite")
        with pytest.raises(InvalidStorageKeyError):
            await provider.delete(key)
    assert secret.read_bytes() == SECRET


async def test_percent_encoded_dots_are_plain_names_inside_the_root(
    jailed: tuple[FilesystemStorageProvider, Path],
) -> None:
    provider, secret = jailed
    # Providers never decode keys: `%2e%2e` is a file of that name under the root, not `..`.
    await provider.write("%2e%2e/secret.txt", b"inside")
    assert await provider.read("%2e%2e/secret.txt") == b"inside"
    assert (provider.root / "%2e%2e" / "secret.txt").read_bytes() == b"inside"
    assert secret.read_bytes() == SECRET
