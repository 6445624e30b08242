"""The answer of `delete_execution` (docs/reference/http-api.md)."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ("ExecutionDeleteResponse",)


class ExecutionDeleteResponse(BaseModel):
    """What deleting an execution removed."""

    execution_id: str
    """The deleted execution."""
    status: str
    """Its status when it was deleted (`completed`, `failed` or `cancelled`)."""
    deleted_objects: int
    """Stored objects removed from `executions/<execution_id>/` (each with its sidecar)."""
    deleted_queue_keys: int
    """Queue keys removed: its queues, dead-letter queues and bookkeeping keys."""
    deleted_lineage_rows: int
    """Lineage rows removed."""
