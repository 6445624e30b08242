"""`MinioStorageProvider`: objects in an S3-compatible bucket through the `minio` client (docs/guides/deployment.md)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import urllib3
from minio import Minio
from minio.credentials.providers import (
    AWSConfigProvider,
    ChainedProvider,
    EnvAWSProvider,
    EnvMinioProvider,
    IamAwsProvider,
    Provider,
)
from minio.datatypes import Object
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import check_bucket_name

from factflow_foundation import SIDECAR_SUFFIX
from factflow_protocols import (
    InvalidStorageKeyError,
    StorageError,
    StorageHealth,
    StorageNotFoundError,
    StorageUnavailableError,
    StoredObject,
    validate_storage_key,
)

from ..errors import UnsupportedProviderUrlError
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
from ._listing import Delimiter, ListingEntry, ListingPage, ObjectEntry, PrefixEntry, check_listing_args, collect_page

__all__ = ("USER_METADATA_FIELDS", "MinioStorageProvider")

logger = logging.getLogger(__name__)

T = TypeVar("T")

USER_METADATA_FIELDS: dict[str, tuple[str, ...]] = {
    "x-amz-meta-factflow-kind": ("kind",),
    "x-amz-meta-factflow-execution-id": ("execution_id",),
    "x-amz-meta-factflow-route-id": ("route_id",),
    "x-amz-meta-factflow-stage": ("stage",),
    "x-amz-meta-factflow-message-id": ("message_id", "correlation_id"),
    "x-amz-meta-factflow-lineage-id": ("lineage_id",),
    "x-amz-meta-factflow-config-hash": ("config_hash",),
    "x-amz-meta-factflow-checksum": ("checksum",),
}
"""User metadata header → the sidecar fields it is taken from (first one set wins)."""

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchObject"})
_DEFAULT_ENDPOINT = "s3.amazonaws.com"
_STREAM_CHUNK = 1 << 16


def _header_value(value: Any) -> str:
    """User metadata travels in HTTP headers: keep printable ASCII, percent-encode the rest."""
    text = str(value)
    if text.isascii() and text.isprintable():
        return text
    return quote(text, safe="")


def user_metadata(sidecar: dict[str, Any]) -> dict[str, str]:
    """The `x-amz-meta-factflow-*` headers for an object, taken from its sidecar."""
    headers: dict[str, str] = {}
    for header, fields in USER_METADATA_FIELDS.items():
        for name in fields:
            value = sidecar.get(name)
            if value is not None:
                headers[header] = _header_value(value)
                break
    return headers


def parse_endpoint(endpoint: str | None, secure: bool) -> tuple[str, bool]:
    """Split `host:port` or `http[s]://host:port` into the minio endpoint and its TLS flag."""
    if not endpoint:
        return _DEFAULT_ENDPOINT, secure
    if "://" not in endpoint:
        return endpoint.rstrip("/"), secure
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
        raise UnsupportedProviderUrlError(
            f"S3 endpoint {endpoint!r} must be `host:port` or `http[s]://host:port` without a path."
        )
    return parts.netloc, parts.scheme == "https"


def _default_credentials() -> Provider:
    """The client's credential chain: AWS/MinIO environment, `~/.aws`, then instance roles."""
    return ChainedProvider([EnvAWSProvider(), EnvMinioProvider(), AWSConfigProvider(), IamAwsProvider()])


class MinioStorageProvider:
    """Stores objects in an S3 bucket (AWS, MinIO, ...) with the synchronous `minio` client.

    Every client call runs on a dedicated pool of `max_workers` threads, so S3 latency never
    blocks the event loop and never starves `asyncio.to_thread` users. Each object carries the
    `x-amz-meta-factflow-*` user metadata (from its sidecar fields) and the full sidecar is a
    companion object `<key>.meta.json`. Keys are stored under the optional `prefix`.

    Args:
        bucket: Bucket name; created by `start()` when missing.
        prefix: Key prefix inside the bucket (no leading or trailing `/` needed).
        endpoint: `host:port` or `http[s]://host:port`; AWS S3 when None.
        access_key: Access key; with `secret_key` it overrides the credential chain.
        secret_key: Secret key.
        region: Bucket region (saves a location lookup per bucket).
        secure: Use TLS (ignored when `endpoint` carries a scheme).
        max_workers: Threads running client calls.
        connect_timeout: Seconds to open a connection.
        read_timeout: Seconds to wait for response data.
        max_retries: Retries of a failed connection or 5xx answer (urllib3 backoff 0.2 s, doubling).
        operation_timeout: Upper bound in seconds of one client call, retries included.

    Raises:
        UnsupportedProviderUrlError: the bucket name or endpoint is malformed.
    """

    provider_name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
        secure: bool = True,
        max_workers: int = 16,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 3,
        operation_timeout: float = 300.0,
    ) -> None:
        try:
            check_bucket_name(bucket)
        except ValueError as exc:
            raise UnsupportedProviderUrlError(f"Invalid S3 bucket name {bucket!r}: {exc}.") from exc
        prefix = prefix.strip("/")
        if prefix:
            validate_storage_key(prefix)
        self._bucket = bucket
        self._prefix = f"{prefix}/" if prefix else ""
        self._endpoint, self._secure = parse_endpoint(endpoint, secure)
        self._operation_timeout = operation_timeout
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            maxsize=max_workers,
            retries=urllib3.Retry(
                total=max_retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504], raise_on_status=False
            ),
        )
        credentials = None if access_key else _default_credentials()
        self._client = Minio(
            self._endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=self._secure,
            region=region,
            http_client=self._http,
            credentials=credentials,
        )
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="factflow-s3")
        self._bucket_problem: str | None = None
        self._closed = False
        self._key_locks = KeyLocks()

    def __repr__(self) -> str:
        scheme = "https" if self._secure else "http"
        endpoint = f"{scheme}://{self._endpoint}"
        return f"MinioStorageProvider(endpoint={endpoint!r}, bucket={self._bucket!r}, prefix={self._prefix!r})"

    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The key prefix inside the bucket (`""` or ending in `/`)."""
        return self._prefix

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Check the endpoint and create the bucket when missing.

        A refused creation (no permission) is logged and reported by `health()` as `degraded`;
        it does not raise.

        Raises:
            StorageUnavailableError: the endpoint cannot be reached or rejects the credentials.
        """
        if await self._call("check the bucket of", "", self._client.bucket_exists, self._bucket):
            self._bucket_problem = None
            return
        try:
            await self._call("create the bucket for", "", self._make_bucket)
        except StorageUnavailableError as exc:
            reason = exc.__cause__ or exc
            self._bucket_problem = f"bucket {self._bucket!r} is missing and could not be created: {reason}"
            logger.warning("S3 %s", self._bucket_problem)
            return
        self._bucket_problem = None
        logger.info("Created S3 bucket %r on %s", self._bucket, self._endpoint)

    def _make_bucket(self) -> None:
        try:
            self._client.make_bucket(self._bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    async def shutdown(self) -> None:
        """Stop the worker threads and close pooled connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        self._http.clear()

    async def __aenter__(self) -> MinioStorageProvider:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ plumbing

    def _name(self, key: str) -> str:
        return self._prefix + key

    def _key(self, name: str) -> str:
        return name[len(self._prefix) :]

    async def _call(self, action: str, key: str, func: Callable[..., T], *args: Any) -> T:
        """Run a blocking client call on the provider's threads, translating its errors."""
        if self._closed:
            raise StorageUnavailableError(f"S3 storage for bucket {self._bucket!r} is shut down.")
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, func, *args)
        try:
            async with asyncio.timeout(self._operation_timeout):
                return await loop.run_in_executor(self._executor, call)
        except StorageError:
            raise
        except TimeoutError as exc:
            raise StorageUnavailableError(
                f"S3 endpoint {self._endpoint!r} did not answer within {self._operation_timeout:g} s "
                f"while trying to {action} {key!r}."
            ) from exc
        except Exception as exc:
            raise self._translate(exc, action, key) from exc

    async def _run_list(self, func: Callable[[], T]) -> T:
        return await self._call("list", "", func)

    def _translate(self, exc: Exception, action: str, key: str) -> StorageError:
        target = f"{key!r} in bucket {self._bucket!r} at {self._endpoint!r}"
        if isinstance(exc, S3Error):
            if exc.code in _NOT_FOUND_CODES:
                return StorageNotFoundError(f"No object is stored at key {key!r}.")
            if exc.code == "NoSuchBucket":
                return StorageUnavailableError(
                    f"S3 bucket {self._bucket!r} does not exist at {self._endpoint!r}; "
                    "create it or fix `FACTFLOW_STORAGE_URI`."
                )
            if exc.code == "KeyTooLongError":
                return InvalidStorageKeyError(f"Storage key {key!r} is too long for S3 once prefixed.")
            return StorageUnavailableError(f"S3 refused to {action} {target}: {exc.code}: {exc.message}.")
        if isinstance(exc, ServerError):
            return StorageUnavailableError(
                f"S3 endpoint {self._endpoint!r} failed to {action} {key!r}: HTTP {exc.status_code}."
            )
        if isinstance(exc, InvalidResponseError):
            return StorageUnavailableError(
                f"S3 endpoint {self._endpoint!r} gave a non-S3 answer while trying to {action} {key!r}; "
                "check `FACTFLOW_S3_ENDPOINT`."
            )
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            reason = getattr(exc, "reason", None) or exc
            return StorageUnavailableError(f"S3 endpoint {self._endpoint!r} is unreachable: {reason}.")
        if isinstance(exc, ValueError) and "credentials" in str(exc):
            return StorageUnavailableError(
                f"No S3 credentials for {self._endpoint!r}: set `FACTFLOW_S3_ACCESS_KEY` and `FACTFLOW_S3_SECRET_KEY`."
            )
        if isinstance(exc, MinioException):
            return StorageUnavailableError(f"S3 failed to {action} {target}: {exc}.")
        return StorageError(f"S3 failed to {action} {target}: {type(exc).__name__}: {exc}.")

    # ------------------------------------------------------------------ StorageProtocol

    async def write(
        self,
        key: str,
        data: bytes,
        metadata: dict[str, Any] | None = None,
        *,
        content_type: str = "application/json",
    ) -> StoredObject:
        """Put the object (with `x-amz-meta-factflow-*`), then its sidecar companion object.

        Raises:
            InvalidStorageKeyError: the key breaks the key rules.
            ValueError: `metadata` is not JSON-serialisable.
            StorageUnavailableError: the endpoint or bucket is missing, or S3 refused the write.
        """
        validate_storage_key(key)
        sidecar = build_sidecar(key, data, metadata, content_type)
        sidecar_bytes = encode_sidecar(key, sidecar)
        name = self._name(key)

        def put_both() -> None:
            self._client.put_object(
                self._bucket,
                name,
                io.BytesIO(data),
                len(data),
                content_type=content_type,
                metadata=user_metadata(sidecar),  # type: ignore[arg-type]  # minio's DictType is invariant
            )
            self._client.put_object(
                self._bucket,
                name + SIDECAR_SUFFIX,
                io.BytesIO(sidecar_bytes),
                len(sidecar_bytes),
                content_type="application/json",
            )

        async with self._key_locks(key):
            await self._call("write", key, put_both)
        return StoredObject(
            key=key, size=len(data), checksum=sidecar["checksum"], content_type=content_type, metadata=sidecar
        )

    def _get_bytes(self, name: str) -> bytes:
        response = self._client.get_object(self._bucket, name)
        try:
            return b"".join(response.stream(_STREAM_CHUNK))
        finally:
            response.close()
            response.release_conn()

    async def read(self, key: str) -> bytes:
        """The object's bytes, streamed from S3.

        Raises:
            StorageNotFoundError: nothing is stored at `key`.
            StorageUnavailableError: the endpoint or bucket is missing.
        """
        validate_storage_key(key)
        return await self._call("read", key, self._get_bytes, self._name(key))

    async def read_metadata(self, key: str) -> dict[str, Any]:
        """The sidecar object with unknown fields kept, or the object's basic facts.

        Without a sidecar the result is `key`, `content_type`, `content_length` and
        `modified_at` from the object itself; a sidecar lacking any of them gets them filled.

        Raises:
            StorageNotFoundError: the object is missing (a missing sidecar is not an error).
            StorageUnavailableError: the endpoint or bucket is missing.
        """
        validate_storage_key(key)
        name = self._name(key)

        def get_sidecar() -> bytes | None:
            try:
                return self._get_bytes(name + SIDECAR_SUFFIX)
            except S3Error as exc:
                if exc.code in _NOT_FOUND_CODES:
                    return None
                raise

        # The GET surfaces a missing bucket (a HEAD cannot); the HEAD proves the object exists.
        raw, stat = await asyncio.gather(
            self._call("read the sidecar of", key, get_sidecar),
            self._call("read the metadata of", key, self._client.stat_object, self._bucket, name),
            return_exceptions=True,
        )
        for outcome in (raw, stat):
            if isinstance(outcome, StorageUnavailableError):
                raise outcome
        if isinstance(stat, BaseException):
            raise stat
        if isinstance(raw, BaseException):
            raise raw
        facts = basic_metadata(
            key,
            content_type=stat.content_type or guess_content_type(key),
            content_length=stat.size or 0,
            modified_at=stat.last_modified or datetime.now(UTC),
        )
        sidecar = decode_sidecar(raw) if raw is not None else None
        if raw is not None and sidecar is None:
            logger.warning("Sidecar of storage key %r is not a JSON object; returning basic facts", key)
        return facts if sidecar is None else merge_object_facts(sidecar, facts)

    async def exists(self, key: str) -> bool:
        """Whether an object is stored at `key` (a HEAD request).

        A missing bucket answers False here; every other operation names it.
        """
        validate_storage_key(key)
        try:
            await self._call("check", key, self._client.stat_object, self._bucket, self._name(key))
        except StorageNotFoundError:
            return False
        return True

    async def delete(self, key: str) -> None:
        """Remove the object, then its sidecar; a missing key is a no-op (S3 deletes are idempotent)."""
        validate_storage_key(key)
        name = self._name(key)

        def remove_both() -> None:
            self._client.remove_object(self._bucket, name)
            self._client.remove_object(self._bucket, name + SIDECAR_SUFFIX)

        async with self._key_locks(key):
            await self._call("delete", key, remove_both)

    def _objects(self, prefix: str, *, recursive: bool) -> Iterator[Object]:
        # The client's iterator fetches the next page (ListObjectsV2 continuation) on demand.
        listing: Iterator[Object] = self._client.list_objects(
            self._bucket, prefix=self._name(prefix), recursive=recursive
        )
        return listing

    def _keys(self, prefix: str) -> Iterator[str]:
        for item in self._objects(prefix, recursive=True):
            name = item.object_name
            if name is None or name.endswith((SIDECAR_SUFFIX, "/")):
                continue
            yield self._key(name)

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        """Keys under `prefix`, recursive and lexicographic (S3 order); sidecars excluded."""
        check_listing_args(prefix, None)
        async for key in iterate_in_thread(self._keys(prefix), self._run_list):
            yield key

    # ------------------------------------------------------------------ folder view

    def _entry(self, item: Object) -> ListingEntry | None:
        name = item.object_name
        if name is None:
            return None
        if item.is_dir:
            return PrefixEntry(prefix=self._key(name))
        if name.endswith((SIDECAR_SUFFIX, "/")):
            return None
        key = self._key(name)
        return ObjectEntry(
            key=key,
            size=item.size or 0,
            last_modified=item.last_modified or datetime.now(UTC),
            content_type=guess_content_type(key),
            etag=item.etag,
        )

    def _recursive_entries(self, prefix: str) -> Iterator[ListingEntry]:
        for item in self._objects(prefix, recursive=True):
            entry = self._entry(item)
            if entry is not None:
                yield entry

    def _folder_entries(self, prefix: str) -> tuple[ListingEntry, ...]:
        # The client yields each page's objects before its common prefixes; sorting the level
        # merges them into key order (S3 compares UTF-8 bytes, which is code-point order).
        entries = [entry for item in self._objects(prefix, recursive=False) if (entry := self._entry(item))]
        entries.sort(key=lambda entry: entry.sort_key)
        return tuple(entries)

    async def list_entries(
        self, prefix: str = "", *, delimiter: Delimiter | None = None
    ) -> AsyncIterator[ListingEntry]:
        """Objects under `prefix` with their facts, in key order.

        With `delimiter="/"`, one folder level: objects directly under `prefix` and one
        `PrefixEntry` per common prefix (held in memory for that level). Without it, every object
        below `prefix`, streamed page by page.
        """
        check_listing_args(prefix, delimiter)
        if delimiter is None:
            async for entry in iterate_in_thread(self._recursive_entries(prefix), self._run_list):
                yield entry
            return
        for entry in await self._call("list", prefix, self._folder_entries, prefix):
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

    async def health(self) -> StorageHealth:
        """Provider health; never raises.

        `healthy` when the bucket is reachable, `degraded` when it is missing (creation refused
        at start-up), `unhealthy` when the endpoint is down.
        """
        try:
            exists = await self._call("check the bucket of", "", self._client.bucket_exists, self._bucket)
        except StorageError as exc:
            return StorageHealth(provider=self.provider_name, status="unhealthy", writable=False, message=str(exc))
        if exists:
            return StorageHealth(provider=self.provider_name, status="healthy", writable=True)
        message = self._bucket_problem or f"bucket {self._bucket!r} does not exist"
        return StorageHealth(provider=self.provider_name, status="degraded", writable=False, message=message)
