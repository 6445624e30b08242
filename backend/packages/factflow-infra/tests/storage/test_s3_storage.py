"""S3 specifics: object layout and user metadata, bucket creation, outages."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from factflow_infra.storage import MinioStorageProvider
from factflow_infra.testing._s3 import S3TestServer, unique_bucket_name
from factflow_protocols import StorageUnavailableError


@pytest.fixture
def raw_client(s3_server: S3TestServer) -> Iterator[Minio]:
    http = urllib3.PoolManager()
    yield Minio(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        secure=False,
        region=s3_server.region,
        http_client=http,
    )
    http.clear()


async def test_objects_carry_factflow_user_metadata(s3_storage: MinioStorageProvider, raw_client: Minio) -> None:
    sidecar = {
        "kind": "stage_output",
        "execution_id": "exec-1",
        "route_id": "route-1",
        "stage": "fetch/html",
        "correlation_id": "msg-1",
        "lineage_id": "lin-1",
        "config_hash": "sha256:abc",
        "title": "not a header",
    }
    stored = await s3_storage.write("executions/exec-1/route-1/fetch/html/msg-1.json", b"{}", sidecar)
    name = "factflow/executions/exec-1/route-1/fetch/html/msg-1.json"
    stat = raw_client.stat_object(s3_storage.bucket, name)
    assert stat.metadata is not None
    headers = {key.lower(): value for key, value in stat.metadata.items() if key.lower().startswith("x-amz-meta-")}
    assert headers == {
        "x-amz-meta-factflow-kind": "stage_output",
        "x-amz-meta-factflow-execution-id": "exec-1",
        "x-amz-meta-factflow-route-id": "route-1",
        "x-amz-meta-factflow-stage": "fetch/html",
        "x-amz-meta-factflow-message-id": "msg-1",
        "x-amz-meta-factflow-lineage-id": "lin-1",
        "x-amz-meta-factflow-config-hash": "sha256:abc",
        "x-amz-meta-factflow-checksum": stored.checksum,
    }
    assert stat.content_type == "application/json"
    companion = raw_client.stat_object(s3_storage.bucket, name + ".meta.json")
    assert companion.content_type == "application/json"


async def test_start_creates_the_bucket(s3_server: S3TestServer, raw_client: Minio) -> None:
    provider = s3_server.provider()
    assert not raw_client.bucket_exists(provider.bucket)
    async with provider:
        assert raw_client.bucket_exists(provider.bucket)
        await provider.start()  # an existing bucket is fine


async def test_missing_bucket_is_named_in_errors(s3_server: S3TestServer) -> None:
    provider = s3_server.provider()  # never started: the bucket does not exist
    try:
        for operation in (
            provider.write("k.json", b"{}"),
            provider.read("k.json"),
            provider.read_metadata("k.json"),
            provider.delete("k.json"),
        ):
            with pytest.raises(StorageUnavailableError, match=f"bucket '{provider.bucket}' does not exist"):
                await operation
        with pytest.raises(StorageUnavailableError, match="does not exist"):
            [key async for key in provider.list()]
        with pytest.raises(StorageUnavailableError, match="does not exist"):
            await provider.list_page("", delimiter="/")
        health = await provider.health()
        assert (health.status, health.writable) == ("degraded", False)
    finally:
        await provider.shutdown()


async def test_refused_bucket_creation_degrades_health(
    s3_server: S3TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = s3_server.provider()

    def refuse(bucket_name: str, location: str | None = None, object_lock: bool = False) -> None:
        response = urllib3.HTTPResponse(status=403)
        raise S3Error(response, "AccessDenied", "Access Denied", f"/{bucket_name}", "request", "host")

    monkeypatch.setattr(provider._client, "make_bucket", refuse)
    try:
        await provider.start()
        health = await provider.health()
        assert (health.status, health.writable) == ("degraded", False)
        assert health.message is not None and "AccessDenied" in health.message
    finally:
        await provider.shutdown()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_endpoint_is_unavailable() -> None:
    endpoint = f"127.0.0.1:{closed_port()}"
    provider = MinioStorageProvider(
        unique_bucket_name(),
        endpoint=endpoint,
        access_key="a",
        secret_key="b",
        region="us-east-1",
        secure=False,
        max_retries=0,
    )
    try:
        with pytest.raises(StorageUnavailableError, match=f"S3 endpoint '{endpoint}' is unreachable"):
            await provider.start()
        with pytest.raises(StorageUnavailableError, match="unreachable"):
            await provider.read("k.json")
        with pytest.raises(StorageUnavailableError, match="unreachable"):
            await provider.exists("k.json")
        health = await provider.health()
        assert (health.status, health.writable) == ("unhealthy", False)
    finally:
        await provider.shutdown()


async def test_operations_after_shutdown_are_unavailable(s3_server: S3TestServer) -> None:
    provider = s3_server.provider()
    await provider.start()
    await provider.shutdown()
    with pytest.raises(StorageUnavailableError, match="shut down"):
        await provider.read("k.json")
