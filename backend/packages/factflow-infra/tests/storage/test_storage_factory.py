"""Provider selection by URI scheme."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from factflow_foundation import FactflowSettings
from factflow_infra.errors import UnsupportedProviderUrlError
from factflow_infra.storage import (
    FilesystemStorageProvider,
    MinioStorageProvider,
    StorageProviderFactory,
    StorageSettings,
    create_storage_provider,
)


def test_file_uri_gives_filesystem_provider(tmp_path: Path) -> None:
    provider = create_storage_provider(f"file://{tmp_path}/store")
    assert isinstance(provider, FilesystemStorageProvider)
    assert provider.root == tmp_path / "store"


@pytest.mark.parametrize("scheme", ["s3", "minio"])
def test_s3_uris_give_minio_provider(scheme: str) -> None:
    settings = StorageSettings(
        uri="ignored", s3_endpoint="http://minio:9000", s3_access_key=SecretStr("ak"), s3_secret_key=SecretStr("sk")
    )
    provider = create_storage_provider(f"{scheme}://factflow-data/tenant/a/", settings)
    assert isinstance(provider, MinioStorageProvider)
    assert (provider.bucket, provider.prefix) == ("factflow-data", "tenant/a/")
    assert "http://minio:9000" in repr(provider)
    assert "sk" not in repr(provider)


def test_process_settings_are_narrowed() -> None:
    settings = FactflowSettings(
        storage_uri="s3://bucket", s3_endpoint="minio:9000", s3_secure=False, s3_access_key="ak", s3_secret_key="sk"
    )
    narrowed = StorageSettings.from_settings(settings)
    assert (narrowed.uri, narrowed.s3_endpoint, narrowed.s3_secure) == ("s3://bucket", "minio:9000", False)
    assert "sk" not in repr(narrowed)
    provider = create_storage_provider("minio://bucket", settings)
    assert isinstance(provider, MinioStorageProvider)
    assert "http://minio:9000" in repr(provider)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://host/path", "scheme must be one of file://, minio://, s3://"),
        ("/plain/path", "scheme must be one of"),
        ("memory://", "scheme must be one of"),
        ("file://", "has no path"),
        ("s3://", "has no bucket"),
        ("s3://bad..name", "Invalid S3 bucket name"),
        ("s3://bucket?x=1", "query"),
    ],
)
def test_bad_uris_are_refused_clearly(uri: str, message: str) -> None:
    with pytest.raises(UnsupportedProviderUrlError, match=message) as info:
        create_storage_provider(uri)
    assert info.value.code == "unsupported_provider_url"


def test_half_configured_credentials_are_refused() -> None:
    with pytest.raises(UnsupportedProviderUrlError, match="both"):
        create_storage_provider("s3://bucket", StorageSettings(uri="s3://bucket", s3_access_key=SecretStr("ak")))


def test_missing_storage_uri_is_named() -> None:
    with pytest.raises(UnsupportedProviderUrlError, match="FACTFLOW_STORAGE_URI"):
        StorageSettings.from_settings(FactflowSettings(storage_uri=None))


def test_factory_accepts_new_schemes(tmp_path: Path) -> None:
    factory = StorageProviderFactory()
    factory.register("scratch", lambda settings: FilesystemStorageProvider(tmp_path))
    assert "scratch" in factory.schemes
    assert isinstance(factory.create(StorageSettings(uri="scratch://x")), FilesystemStorageProvider)
