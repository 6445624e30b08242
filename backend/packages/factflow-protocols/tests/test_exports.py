from __future__ import annotations

import factflow_protocols

SPEC_EXPORTS = {
    "PipelineAdapter",
    "PipelineContext",
    "AdapterResult",
    "NonRetryableError",
    "ErrorInfo",
    "ErrorInfoData",
    "JSONObject",
    "EngineEvent",
    "ExecutionStatusChanged",
    "ExecutionProgress",
    "RouteStateChanged",
    "StageChanged",
    "MessageDeadLettered",
    "StorageObjectCreated",
    "ReplayProgress",
    "QueueMessage",
    "EnvelopeControl",
    "QueueProtocol",
    "MessageHandler",
    "MessageStatus",
    "PublishStatus",
    "Subscription",
    "SubscriptionStatus",
    "QueueDepth",
    "QueueHealth",
    "QueueUnavailableError",
    "StorageProtocol",
    "StoredObject",
    "StorageNotFoundError",
    "StorageUnavailableError",
    "InvalidStorageKeyError",
}
EXTRAS = {
    "RESERVED_METADATA_KEYS",
    "utc_now_rfc3339",
    "DeadLetterCallback",
    "LostStateCallback",
    "SettledCallback",
    "QueueError",
    # a shared queue's hold on the delivery being handled (the engine asks before each adapter call)
    "DeliveryHold",
    "current_delivery_hold",
    "delivery_still_held",
    "holding_delivery",
    "StorageHealth",
    "StorageError",
    "validate_storage_key",
    "MAX_KEY_BYTES",
    # moved down from factflow-lineage so the engine needs no ORM (factflow_lineage re-exports the spec's two)
    "LineageRecord",
    "StageStatus",
    "StageInvocation",
    "LineageSink",
    "LineageEventSink",
    "LineageService",
    "build_error_info",
}


def test_public_surface_is_pinned() -> None:
    assert set(factflow_protocols.__all__) == SPEC_EXPORTS | EXTRAS


def test_every_exported_name_imports() -> None:
    for name in factflow_protocols.__all__:
        assert getattr(factflow_protocols, name) is not None
