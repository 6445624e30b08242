"""Storage providers: filesystem and S3/MinIO, chosen by URI scheme."""

from __future__ import annotations

from ._common import guess_content_type
from ._factory import StorageProviderBuilder, StorageProviderFactory, StorageSettings, create_storage_provider
from ._filesystem import FilesystemStorageProvider
from ._listing import (
    Delimiter,
    ListingEntry,
    ListingPage,
    ObjectEntry,
    PrefixEntry,
    StorageProvider,
    collect_page,
)
from ._s3 import USER_METADATA_FIELDS, MinioStorageProvider

__all__ = (
    # selection
    "create_storage_provider",
    "StorageSettings",
    "StorageProviderFactory",
    "StorageProviderBuilder",
    "StorageProvider",
    # providers
    "FilesystemStorageProvider",
    "MinioStorageProvider",
    "USER_METADATA_FIELDS",
    # folder view
    "Delimiter",
    "ListingEntry",
    "ListingPage",
    "ObjectEntry",
    "PrefixEntry",
    "collect_page",
    "guess_content_type",
)
