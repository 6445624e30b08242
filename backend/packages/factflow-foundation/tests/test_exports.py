from __future__ import annotations

import factflow_foundation

SPEC_EXPORTS = {
    "FactflowSettings",
    "get_settings",
    "override_settings",
    "reset_settings",
    "new_id",
    "derive_message_id",
    "canonical_json",
    "content_hash",
    "ExecutionPathResolver",
    "configure_logging",
    "get_logger",
    "FactflowError",
    "NotFoundError",
    "ConflictError",
    "InvalidStateError",
    "ServiceUnavailableError",
}


def test_public_surface_is_pinned() -> None:
    assert set(factflow_foundation.__all__) == SPEC_EXPORTS | {
        "config_hash",
        "bytes_checksum",
        "StagePaths",
        "SIDECAR_SUFFIX",
        "log_context",
        "LOG_CONTEXT_FIELDS",
        "utc_now",
        "utc_now_rfc3339",
        "rfc3339",
        "rfc3339_or_none",
        "parse_rfc3339",
        "Timestamp",
        "Backoff",
        "freeze_startup_heap",
        "raise_young_collection_threshold",
        "YOUNG_COLLECTION_THRESHOLD",
    }


def test_every_exported_name_imports() -> None:
    for name in factflow_foundation.__all__:
        assert getattr(factflow_foundation, name) is not None
