"""Adapter, queue, storage and lineage contracts shared by every factflow package.

Depends only on factflow-foundation (and pydantic, msgpack): no driver, no ORM.
"""

from __future__ import annotations

from ._adapter import AdapterResult, PipelineAdapter, PipelineContext
from ._delivery_hold import DeliveryHold, current_delivery_hold, delivery_still_held, holding_delivery
from ._engine_events import (
    EngineEvent,
    ExecutionProgress,
    ExecutionStatusChanged,
    MessageDeadLettered,
    ReplayProgress,
    RouteStateChanged,
    StageChanged,
    StorageObjectCreated,
)
from ._error_info import build_error_info
from ._execution_error import ErrorInfo, ErrorInfoData
from ._json import JSONObject
from ._lineage import LineageEventSink, LineageRecord, LineageSink, StageInvocation, StageStatus
from ._lineage_service import LineageService
from ._messages import RESERVED_METADATA_KEYS, EnvelopeControl, QueueMessage, utc_now_rfc3339
from ._queue import (
    DeadLetterCallback,
    LostStateCallback,
    MessageHandler,
    MessageStatus,
    PublishStatus,
    QueueDepth,
    QueueHealth,
    QueueProtocol,
    SettledCallback,
    Subscription,
    SubscriptionStatus,
)
from ._storage import MAX_KEY_BYTES, StorageHealth, StorageProtocol, StoredObject, validate_storage_key
from .errors import (
    InvalidStorageKeyError,
    NonRetryableError,
    QueueError,
    QueueUnavailableError,
    StorageError,
    StorageNotFoundError,
    StorageUnavailableError,
)

__all__ = (
    # adapters
    "PipelineAdapter",
    "PipelineContext",
    "AdapterResult",
    "NonRetryableError",
    # executions
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
    # queue
    "QueueMessage",
    "EnvelopeControl",
    "RESERVED_METADATA_KEYS",
    "utc_now_rfc3339",
    "QueueProtocol",
    "MessageHandler",
    "DeadLetterCallback",
    "LostStateCallback",
    "SettledCallback",
    "MessageStatus",
    "PublishStatus",
    "Subscription",
    "SubscriptionStatus",
    "QueueDepth",
    "QueueHealth",
    "QueueError",
    "QueueUnavailableError",
    "DeliveryHold",
    "current_delivery_hold",
    "delivery_still_held",
    "holding_delivery",
    # storage
    "StorageProtocol",
    "StoredObject",
    "StorageHealth",
    "StorageError",
    "StorageNotFoundError",
    "StorageUnavailableError",
    "InvalidStorageKeyError",
    "validate_storage_key",
    "MAX_KEY_BYTES",
    # lineage
    "LineageRecord",
    "StageStatus",
    "StageInvocation",
    "LineageSink",
    "LineageEventSink",
    "LineageService",
    "build_error_info",
)
