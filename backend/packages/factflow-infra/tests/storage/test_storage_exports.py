from __future__ import annotations

import factflow_infra.storage


def test_storage_exports_are_pinned() -> None:
    assert set(factflow_infra.storage.__all__) == {
        "create_storage_provider",
        "StorageSettings",
        "StorageProviderFactory",
        "StorageProviderBuilder",
        "StorageProvider",
        "FilesystemStorageProvider",
        "MinioStorageProvider",
        "USER_METADATA_FIELDS",
        "Delimiter",
        "ListingEntry",
        "ListingPage",
        "ObjectEntry",
        "PrefixEntry",
        "collect_page",
        "guess_content_type",
    }
    for name in factflow_infra.storage.__all__:
        assert hasattr(factflow_infra.storage, name), name
