"""An in-process S3 server (moto) and S3 storage fixtures going through `MinioStorageProvider`."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from ..storage import MinioStorageProvider

__all__ = ("S3TestServer", "run_s3_server", "s3_server", "s3_storage", "unique_bucket_name")

TEST_ACCESS_KEY = "factflow-test"
TEST_SECRET_KEY = "factflow-test-secret"
TEST_REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class S3TestServer:
    """Where the test S3 server listens, and the credentials it accepts (any, in fact)."""

    endpoint: str
    """`127.0.0.1:<port>` (plain HTTP)."""
    access_key: str = TEST_ACCESS_KEY
    """Access key to use."""
    secret_key: str = TEST_SECRET_KEY
    """Secret key to use."""
    region: str = TEST_REGION
    """Region to use."""

    @property
    def endpoint_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://{self.endpoint}"

    def environment(self, *, bucket: str, prefix: str = "") -> dict[str, str]:
        """`FACTFLOW_*` variables pointing a server or CLI process at this S3 server."""
        uri = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return {
            "FACTFLOW_STORAGE_URI": uri,
            "FACTFLOW_S3_ENDPOINT": self.endpoint,
            "FACTFLOW_S3_ACCESS_KEY": self.access_key,
            "FACTFLOW_S3_SECRET_KEY": self.secret_key,
            "FACTFLOW_S3_REGION": self.region,
            "FACTFLOW_S3_SECURE": "0",
        }

    def provider(self, bucket: str | None = None, *, prefix: str = "", max_retries: int = 0) -> MinioStorageProvider:
        """A `MinioStorageProvider` on this server (not started); a fresh bucket name by default."""
        return MinioStorageProvider(
            bucket or unique_bucket_name(),
            prefix=prefix,
            endpoint=self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            secure=False,
            max_retries=max_retries,
        )


def unique_bucket_name() -> str:
    """A bucket name no other test uses."""
    return f"factflow-test-{uuid.uuid4().hex[:16]}"


@contextlib.contextmanager
def run_s3_server() -> Iterator[S3TestServer]:
    """Run moto's `ThreadedMotoServer` on a free 127.0.0.1 port for the duration of the block."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:  # pragma: no cover - moto[server] is a dev dependency
        pytest.skip("moto[server] is not installed; S3 tests need it")
    # Request lines would otherwise flood the captured output of every S3 test.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3TestServer(endpoint=f"{host}:{port}")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3TestServer]:
    """A moto S3 server for the whole test session (each `s3_storage` uses its own bucket)."""
    with run_s3_server() as server:
        yield server


@pytest.fixture
async def s3_storage(s3_server: S3TestServer) -> AsyncIterator[MinioStorageProvider]:
    """A started `MinioStorageProvider` on a fresh bucket, keys under the prefix `factflow`."""
    provider = s3_server.provider(prefix="factflow")
    await provider.start()
    try:
        yield provider
    finally:
        await provider.shutdown()
