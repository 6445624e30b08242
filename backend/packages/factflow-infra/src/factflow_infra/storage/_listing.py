"""The folder view both providers offer for `GET /storage/objects` (`list_storage_objects`).

Providers implement one primitive, `list_entries(prefix, *, delimiter)`: an async iterator of
`ObjectEntry` and `PrefixEntry` merged in key order. Without a delimiter it is the recursive
listing with per-object facts; with `delimiter="/"` it is one folder level (objects directly
under `prefix`, plus one `PrefixEntry` per sub-folder, S3 `CommonPrefixes` semantics).

`collect_page` turns that stream into one page: it applies an optional filter, counts `total`
and keeps only the `offset`/`limit` window, so memory stays O(limit) on top of what the
provider needs for one folder level. Sidecars are never listed, and no sidecar is read:
the server attaches `ObjectMetadata` to the page's objects only (`read_metadata`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from factflow_protocols import StorageHealth, StorageProtocol, validate_storage_key

__all__ = (
    "Delimiter",
    "ListingEntry",
    "ListingPage",
    "ObjectEntry",
    "PrefixEntry",
    "StorageProvider",
    "check_listing_args",
    "collect_page",
)

Delimiter = Literal["/"]
"""The only delimiter the folder view supports."""


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    """One stored object as a listing sees it (docs/reference/http-api-endpoints.md `ObjectInfo` without `metadata`)."""

    key: str
    """The object's key (provider prefix removed)."""
    size: int
    """Size in bytes."""
    last_modified: datetime
    """Last write, timezone-aware UTC."""
    content_type: str
    """Guessed from the key (`.json` → `application/json`, else `application/octet-stream`);
    the authoritative value is in the sidecar (`read_metadata`)."""
    etag: str | None = None
    """The S3 ETag; None on the filesystem."""

    @property
    def sort_key(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class PrefixEntry:
    """A sub-folder in a folder view (an S3 common prefix); always ends in `/`."""

    prefix: str
    """The folder's key prefix, ending in the delimiter."""

    @property
    def sort_key(self) -> str:
        return self.prefix


ListingEntry = ObjectEntry | PrefixEntry
"""What `list_entries` yields."""


@dataclass(frozen=True, slots=True)
class ListingPage:
    """One page of a listing: `entries` in key order, with the paging facts of docs/reference/http-api.md."""

    prefix: str
    """The prefix that was listed."""
    delimiter: Delimiter | None
    """`/` for a folder view, None for a recursive listing."""
    entries: tuple[ListingEntry, ...]
    """Objects and prefixes of this page, merged in key order."""
    total: int
    """Entries (objects plus prefixes) that matched, over all pages."""
    limit: int
    """Page size asked for."""
    offset: int
    """Entries skipped before this page."""

    @property
    def objects(self) -> tuple[ObjectEntry, ...]:
        """The page's objects, in key order."""
        return tuple(entry for entry in self.entries if isinstance(entry, ObjectEntry))

    @property
    def common_prefixes(self) -> tuple[str, ...]:
        """The page's sub-folder prefixes (each ending in `/`), in key order."""
        return tuple(entry.prefix for entry in self.entries if isinstance(entry, PrefixEntry))

    @property
    def has_more(self) -> bool:
        """Whether entries follow this page (`offset + len(entries) < total`)."""
        return self.offset + len(self.entries) < self.total


def check_listing_args(prefix: str, delimiter: str | None) -> None:
    """Validate a listing prefix and delimiter.

    Raises:
        InvalidStorageKeyError: the prefix breaks the key rules (an empty prefix or a trailing
            `/` is allowed).
        ValueError: the delimiter is not `/`.
    """
    validate_storage_key(prefix, allow_prefix=True)
    if delimiter is not None and delimiter != "/":
        raise ValueError(f"Unsupported listing delimiter {delimiter!r}; only '/' is supported.")


async def collect_page(
    entries: AsyncIterable[ListingEntry],
    *,
    prefix: str,
    delimiter: Delimiter | None,
    limit: int,
    offset: int = 0,
    include: Callable[[ListingEntry], bool] | None = None,
) -> ListingPage:
    """Page through a key-ordered entry stream.

    Args:
        entries: The stream, as `list_entries` yields it.
        prefix: The listed prefix (echoed in the page).
        delimiter: The delimiter used (echoed in the page).
        limit: Page size, at least 1.
        offset: Matching entries to skip, at least 0.
        include: Keep only entries for which it returns True (the API's identity and extension
            filters); `total` counts only those.

    Raises:
        ValueError: `limit` < 1 or `offset` < 0.
    """
    if limit < 1:
        raise ValueError(f"Listing limit must be at least 1, got {limit!r}.")
    if offset < 0:
        raise ValueError(f"Listing offset must not be negative, got {offset!r}.")
    window: list[ListingEntry] = []
    total = 0
    async for entry in entries:
        if include is not None and not include(entry):
            continue
        if offset <= total < offset + limit:
            window.append(entry)
        total += 1
    return ListingPage(
        prefix=prefix, delimiter=delimiter, entries=tuple(window), total=total, limit=limit, offset=offset
    )


@runtime_checkable
class StorageProvider(StorageProtocol, Protocol):
    """A concrete provider: `StorageProtocol`, its lifecycle, and the folder view.

    `create_storage_provider` returns this type. Call `start()` (or use `async with`) before
    serving; `shutdown()` is idempotent and safe before `start()`.
    """

    @property
    def provider_name(self) -> str:
        """`filesystem` or `s3`."""

    async def start(self) -> None:
        """Prepare the backend (create the root or the bucket)."""

    async def shutdown(self) -> None:
        """Release threads and connections."""

    def list_entries(self, prefix: str = "", *, delimiter: Delimiter | None = None) -> AsyncIterator[ListingEntry]:
        """Objects (and, with a delimiter, sub-folders) under `prefix`, merged in key order."""

    async def list_page(
        self,
        prefix: str = "",
        *,
        delimiter: Delimiter | None = None,
        limit: int = 100,
        offset: int = 0,
        include: Callable[[ListingEntry], bool] | None = None,
    ) -> ListingPage:
        """One page of `list_entries` (see `collect_page`)."""

    async def health(self) -> StorageHealth:
        """Provider health; never raises."""
