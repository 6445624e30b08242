"""Domain objects of configs and executions, with their docs/reference/http-api-endpoints.md shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from factflow_engine.config import ConfigSnapshot
from factflow_foundation import rfc3339, rfc3339_or_none
from factflow_protocols import ErrorInfoData, JSONObject

from ._stored_snapshot import StoredSnapshot
from ._types import ConfigSourceType, ExecutionStatus
from .views import MessageCounts

if TYPE_CHECKING:
    from factflow_engine.config import ValidationReport

    from .views import RouteStatus

__all__ = ("PipelineConfig", "PipelineExecution", "ReplayInfo")


class ReplayInfo(TypedDict, total=False):
    """The `replay` object of a replay execution (HTTP API ReplayInfo); written by factflow-replay."""

    from_execution_id: str
    from_route: str
    from_stage: str
    from_path: str | None
    mode: str
    to_route: str
    to_queue: str
    start_at_adapter: int
    target_config_id: str
    replay_batch_id: str
    objects_found: int
    objects_published: int
    objects_failed: int
    publish_status: str


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """One stored pipeline config (docs/reference/http-api-endpoints.md PipelineConfigResponse / DetailResponse).

    `validation_report` is recomputed against the live registry on every read by the config
    service; the repository leaves it `None`.
    """

    config_id: str
    """Config id (UUIDv7)."""
    name: str
    """Display name; not unique."""
    description: str | None
    """Free text."""
    config_yaml: str
    """The YAML exactly as stored."""
    config_hash: str
    """`sha256:<hex>` of the YAML text."""
    version: int
    """1, +1 whenever the YAML text changes."""
    source_type: ConfigSourceType
    """`file`, `api` or `imported`."""
    source_path: str | None
    """Shipped file path, if any."""
    is_active: bool
    """False after deactivation."""
    created_at: datetime
    """When first stored."""
    updated_at: datetime
    """Last change."""
    validation_report: ValidationReport | None = None
    """Report against the live registry, filled on read by the config service."""

    @property
    def is_runnable(self) -> bool:
        """Active and without validation errors (false while no report is attached)."""
        return self.is_active and self.validation_report is not None and self.validation_report.is_valid

    def to_api(self, *, include_yaml: bool = False) -> JSONObject:
        """The PipelineConfigResponse (or DetailResponse with `include_yaml`) as JSON-ready values.

        Raises:
            ValueError: No validation report is attached.
        """
        if self.validation_report is None:
            raise ValueError(f"config {self.config_id!r} has no validation report attached")
        body: JSONObject = {
            "id": self.config_id,
            "name": self.name,
            "description": self.description,
            "source_type": str(self.source_type),
            "source_path": self.source_path,
            "config_hash": self.config_hash,
            "version": self.version,
            "is_active": self.is_active,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "validation_report": self.validation_report.to_dict(),
            "is_runnable": self.is_runnable,
        }
        if include_yaml:
            body["config_yaml"] = self.config_yaml
        return body


@dataclass(frozen=True, slots=True)
class PipelineExecution:
    """One execution: the fields of HTTP API ExecutionDetailResponse plus the internal ones."""

    execution_id: str
    """UUIDv7; also the storage and queue scope."""
    config_id: str
    """Config whose snapshot runs."""
    config_name: str
    """Frozen at start."""
    config_version: int
    """Frozen at start."""
    status: ExecutionStatus
    """Stored status; never `cancelling`."""
    source: ConfigSourceType
    """`api`, `cli` or `replay`."""
    started_at: datetime
    """When the row was inserted."""
    stored_snapshot: StoredSnapshot
    """Frozen config as stored (docs/concepts/executions.md); `config_snapshot` is the typed view."""
    tag: str | None = None
    """Unique user label."""
    parent_execution_id: str | None = None
    """Source execution of a replay."""
    replay_batch_id: str | None = None
    """Replay batch id."""
    replay_source: str | None = None
    """`storage` on replays."""
    completed_at: datetime | None = None
    """Set with the final status."""
    duration_ms: float | None = None
    """Set with the final status."""
    error_info: ErrorInfoData | None = None
    """`{code, message, details}`."""
    root_correlation_id: str | None = None
    """Init message id, or `None` when no init message is published."""
    init_payload: JSONObject | None = None
    """Effective init payload after overrides."""
    metadata: JSONObject = field(default_factory=dict)
    """Caller metadata."""
    cancel_requested: bool = False
    """Set when a cancel was accepted."""
    message_counts: dict[str, int] | None = None
    """Frozen counters (live ones come from the manager while running)."""
    replay: JSONObject | None = None
    """ReplayInfo of a replay execution."""
    recovered_at: datetime | None = None
    """Last resume by recovery."""
    recovery_count: int = 0
    """Resumes so far."""
    lineage_retention_days: float | None = None
    """This execution's own lineage retention in days; `None`: the server's setting applies."""
    stats: JSONObject | None = None
    """ExecutionStats (api shape), frozen at the end."""
    route_counts: JSONObject | None = None
    """Per-route message counts by route id (`RouteStatus` lineage part), frozen at the end."""
    queues_purged_at: datetime | None = None
    """When the janitor purged the non-DLQ queues."""
    dlq_purged_at: datetime | None = None
    """When the janitor purged the DLQs."""
    updated_at: datetime | None = None
    """Last change of the row."""

    @property
    def is_final(self) -> bool:
        """True for `completed`, `failed` and `cancelled`."""
        return self.status in ("completed", "failed", "cancelled")

    @property
    def is_stopped(self) -> bool:
        """True for the final statuses and `interrupted`."""
        return self.status != "running"

    @property
    def config_snapshot(self) -> ConfigSnapshot:
        """The typed frozen config, parsed on first use.

        Raises:
            SnapshotUnreadableError: the stored document no longer validates.
        """
        return self.stored_snapshot.snapshot

    @property
    def tolerated_failures(self) -> int:
        """`error_handling.tolerated_failures` of the snapshot (of the raw document if it does not validate)."""
        return self.stored_snapshot.tolerated_failures

    def to_api(self, *, include_replay: bool = False) -> JSONObject:
        """The HTTP API ExecutionResponse (plus `replay` for replay answers) as JSON-ready values."""
        body: JSONObject = {
            "id": self.execution_id,
            "execution_id": self.execution_id,
            "config_id": self.config_id,
            "config_name": self.config_name,
            "config_version": self.config_version,
            "status": self.status,
            "source": str(self.source),
            "tag": self.tag,
            "parent_execution_id": self.parent_execution_id,
            "replay_batch_id": self.replay_batch_id,
            "replay_source": self.replay_source,
            "started_at": rfc3339(self.started_at),
            "completed_at": rfc3339_or_none(self.completed_at),
            "duration_ms": self.duration_ms,
            "error_info": self.error_info,
        }
        if include_replay:
            body["replay"] = self.replay
        return body

    def to_api_detail(self, *, routes: list[RouteStatus], message_counts: JSONObject | None = None) -> JSONObject:
        """The docs/reference/http-api-endpoints.md ExecutionDetailResponse.

        Args:
            routes: Current route statuses (`ExecutionService.routes`).
            message_counts: Live counters while running; defaults to the frozen ones (or zeros).
        """
        counts = MessageCounts.normalize(
            message_counts if message_counts is not None else self.message_counts,
            tolerated_failures=self.tolerated_failures,
        )
        body = self.to_api()
        body.update(
            {
                "config_snapshot": self.stored_snapshot.document,
                "root_correlation_id": self.root_correlation_id,
                "init_payload": self.init_payload,
                "metadata": dict(self.metadata),
                "cancel_requested": self.cancel_requested,
                "message_counts": counts.model_dump(),
                "routes": [route.model_dump(mode="json") for route in routes],
                "replay": self.replay,
                "recovered_at": rfc3339_or_none(self.recovered_at),
                "recovery_count": self.recovery_count,
                "lineage_retention_days": self.lineage_retention_days,
            }
        )
        return body
