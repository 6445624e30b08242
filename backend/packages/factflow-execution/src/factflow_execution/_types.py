"""Enumerations and small value helpers shared by the execution models."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Final, Literal, get_args

__all__ = (
    "FINAL_STATUSES",
    "STOPPED_STATUSES",
    "ConfigSourceType",
    "ExecutionSource",
    "ExecutionStatus",
    "ReplaySource",
    "is_uuid_shaped",
)

ExecutionStatus = Literal["running", "completed", "failed", "cancelled", "interrupted"]
"""A stored execution status; `cancelling` is never stored (docs/concepts/executions.md)."""

ExecutionSource = Literal["api", "cli", "replay"]
"""Who started an execution."""

EXECUTION_STATUSES: Final[frozenset[str]] = frozenset(get_args(ExecutionStatus))

FINAL_STATUSES: Final[frozenset[ExecutionStatus]] = frozenset({"completed", "failed", "cancelled"})
"""Statuses nothing changes any more."""

STOPPED_STATUSES: Final[frozenset[ExecutionStatus]] = frozenset({"completed", "failed", "cancelled", "interrupted"})
"""Statuses a waiter resolves on and streams end on (`interrupted` may still resume later)."""


class ConfigSourceType(StrEnum):
    """Where a config came from (`file`, `api`, `imported`) or who started an execution (`api`, `cli`, `replay`)."""

    FILE = "file"
    """A shipped file under `FACTFLOW_PIPELINES_DIR`, upserted by `source_path`."""
    API = "api"
    """Created through the API (or, for executions, started through it)."""
    IMPORTED = "imported"
    """Imported from elsewhere."""
    CLI = "cli"
    """Executions only: started by the CLI (`X-Factflow-Source: cli`)."""
    REPLAY = "replay"
    """Executions only: created by a replay."""


class ReplaySource(StrEnum):
    """What a replay reads; v1 accepts only `storage`."""

    STORAGE = "storage"
    """Every stage output under the source prefix."""
    LINEAGE = "lineage"
    """Reserved (failures only); rejected in v1."""
    MANUAL = "manual"
    """Reserved (explicit keys); rejected in v1."""


def is_uuid_shaped(ref: str) -> bool:
    """True when `ref` parses as a UUID; such execution refs are ids, anything else a tag."""
    try:
        uuid.UUID(ref)
    except (ValueError, TypeError, AttributeError):
        return False
    return True
