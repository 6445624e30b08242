"""Settings, ids, hashing, time, storage paths, logging, backoff, start-up heap and the error root.

Must not import any other factflow package.
"""

from __future__ import annotations

from ._backoff import Backoff
from ._gc import YOUNG_COLLECTION_THRESHOLD, freeze_startup_heap, raise_young_collection_threshold
from ._hashing import bytes_checksum, canonical_json, config_hash, content_hash
from ._ids import derive_message_id, new_id
from ._logging import LOG_CONTEXT_FIELDS, configure_logging, get_logger, log_context
from ._paths import SIDECAR_SUFFIX, ExecutionPathResolver, StagePaths
from ._settings import FactflowSettings, get_settings, override_settings, reset_settings
from ._time import Timestamp, parse_rfc3339, rfc3339, rfc3339_or_none, utc_now, utc_now_rfc3339
from .errors import ConflictError, FactflowError, InvalidStateError, NotFoundError, ServiceUnavailableError

__version__ = "0.1.0"

__all__ = (
    # settings
    "FactflowSettings",
    "get_settings",
    "override_settings",
    "reset_settings",
    # ids and hashes
    "new_id",
    "derive_message_id",
    "canonical_json",
    "content_hash",
    "config_hash",
    "bytes_checksum",
    # time
    "utc_now",
    "utc_now_rfc3339",
    "rfc3339",
    "rfc3339_or_none",
    "parse_rfc3339",
    "Timestamp",
    # storage paths
    "ExecutionPathResolver",
    "StagePaths",
    "SIDECAR_SUFFIX",
    # logging
    "configure_logging",
    "get_logger",
    "log_context",
    "LOG_CONTEXT_FIELDS",
    # retries
    "Backoff",
    # process
    "freeze_startup_heap",
    "raise_young_collection_threshold",
    "YOUNG_COLLECTION_THRESHOLD",
    # errors
    "FactflowError",
    "NotFoundError",
    "ConflictError",
    "InvalidStateError",
    "ServiceUnavailableError",
)
