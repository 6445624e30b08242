"""Pydantic models of the pipeline YAML (docs/reference/pipeline-yaml.md).

Every model forbids extra keys. The validator checks the raw document and reports coded issues
first; these models are built only from documents without errors, with every default filled in,
so `model_dump()` of a `PipelineGlobalConfig` is the `config` of an execution snapshot.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from factflow_protocols import JSONObject

__all__ = (
    "QUEUE_NAME_PATTERN",
    "RESERVED_SIDECAR_FIELDS",
    "ROUTE_ID_PATTERN",
    "STAGE_SEGMENT_PATTERN",
    "SUBSCRIPTION_PATTERN",
    "POOL_NAME_PATTERN",
    "DEFAULT_POOL",
    "AdapterConfig",
    "AdapterStorageConfig",
    "BackpressureConfig",
    "CircuitBreakerConfig",
    "ConditionConfig",
    "ErrorHandlingConfig",
    "InboundConfig",
    "InitMessageConfig",
    "OrchestratorConfig",
    "OutboundConfig",
    "PipelineGlobalConfig",
    "ProcessorConfig",
    "RouteConfig",
    "StorageMetadataConfig",
    "StorageMetadataField",
    "normalize_queue_name",
)

ROUTE_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
QUEUE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SUBSCRIPTION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
POOL_NAME_PATTERN = QUEUE_NAME_PATTERN
"""A worker pool (`inbound.pool`): the charset of queue names."""
DEFAULT_POOL = "default"
"""The pool of a route that names none, and of a worker started without `--pool`."""
STAGE_SEGMENT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

RESERVED_SIDECAR_FIELDS = frozenset(
    {
        # format
        "schema_version",
        "kind",
        # object
        "key",
        "content_type",
        "content_length",
        "checksum",
        # origin
        "execution_id",
        "route_id",
        "stage",
        "adapter_name",
        "adapter_index",
        # message
        "correlation_id",
        "parent_correlation_id",
        "lineage_id",
        # config
        "config_id",
        "config_version",
        "config_hash",
        # replay
        "replay_batch_id",
        "original_object_key",
        # write
        "delivery_count",
        "created_at",
        "written_by",
        # manifests
        "children",
    }
)
"""Sidecar fields the engine writes itself (docs/concepts/storage.md); `metadata_fields` may not use them (E512)."""

_QUEUE_PREFIX = "/queue/"


def normalize_queue_name(name: str) -> str:
    """Drop a leading `/queue/`; all queue comparisons use the result."""
    return name[len(_QUEUE_PREFIX) :] if name.startswith(_QUEUE_PREFIX) else name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ConditionConfig(_Strict):
    """A leaf `{field, operator, value}` or a composite with exactly one of `all` / `any`."""

    field: str | None = None
    """Dotted path into the payload."""
    operator: str | None = None
    """One of the `OperatorRegistry` names."""
    value: Any = None
    """Operand; `exists` defaults to true when omitted."""
    all_: list[ConditionConfig] | None = Field(default=None, alias="all")
    """True when every item is true."""
    any_: list[ConditionConfig] | None = Field(default=None, alias="any")
    """True when at least one item is true."""

    @property
    def is_composite(self) -> bool:
        return self.all_ is not None or self.any_ is not None

    def as_written(self) -> JSONObject:
        """The mapping as the YAML wrote it (leaf or composite), for the DAG and docs."""
        if self.all_ is not None:
            return {"all": [item.as_written() for item in self.all_]}
        if self.any_ is not None:
            return {"any": [item.as_written() for item in self.any_]}
        written: JSONObject = {"field": self.field, "operator": self.operator}
        if "value" in self.model_fields_set:
            written["value"] = self.value
        return written


class ErrorHandlingConfig(_Strict):
    """Retries and dead-lettering (§6.1)."""

    max_retries: int = Field(default=3, ge=0, le=20)
    retry_delay_seconds: float = Field(default=1, ge=0, le=3600)
    backoff: Literal["fixed", "exponential"] = "exponential"
    max_retry_delay_seconds: float = Field(default=60, ge=0, le=86_400)
    dead_letter_queue: str | None = None
    """Defaults to `dlq.<route-id>`."""
    max_deliveries: int = Field(default=5, ge=1, le=100)
    tolerated_failures: int = Field(default=0, ge=0)


class BackpressureConfig(_Strict):
    """Adaptive concurrency and water marks (§6.2)."""

    enabled: bool = True
    target_latency_ms: float = Field(default=5000, ge=1, le=3_600_000)
    min_concurrency: int = Field(default=1, ge=1, le=1000)
    max_concurrency: int | None = Field(default=None, ge=1, le=1000)
    """`None` means `inbound.concurrency`."""
    increase_step: int = Field(default=1, ge=1, le=100)
    decrease_factor: float = Field(default=0.5, gt=0, lt=1)
    adjust_interval_seconds: float = Field(default=5, ge=1, le=300)
    high_water_mark: int = Field(default=1000, ge=2)
    low_water_mark: int = Field(default=500, ge=1)


class CircuitBreakerConfig(_Strict):
    """Per-adapter circuit breaker (§6.3)."""

    enabled: bool = True
    failure_threshold: int = Field(default=5, ge=1, le=1000)
    recovery_timeout_seconds: float = Field(default=30, ge=1, le=86_400)
    half_open_max_calls: int = Field(default=1, ge=1, le=100)


class OrchestratorConfig(_Strict):
    """Execution-wide limits (§6.4)."""

    max_handlers: int = Field(default=30, ge=1, le=10_000)
    max_fanout_pending: int = Field(default=500, ge=1, le=100_000)
    max_hops: int = Field(default=64, ge=1, le=10_000)
    cancel_grace_seconds: float = Field(default=30, ge=0, le=3600)
    ready_timeout_seconds: float = Field(default=30, ge=1, le=600)
    adapter_start_timeout_seconds: float = Field(default=60, ge=1, le=3600)


class StorageMetadataField(_Strict):
    """A payload value copied into the sidecar under `name`."""

    name: str
    path: str


class StorageMetadataConfig(_Strict):
    """Stage storage of one adapter entry."""

    enabled: bool = True
    metadata_fields: list[StorageMetadataField] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _expand_dotted_paths(cls, data: Any) -> Any:
        # A bare dotted path is shorthand for {name: <last segment>, path: <path>}.
        if isinstance(data, dict) and isinstance(data.get("metadata_fields"), list):
            fields = [
                {"name": item.rsplit(".", 1)[-1], "path": item} if isinstance(item, str) else item
                for item in data["metadata_fields"]
            ]
            data = {**data, "metadata_fields": fields}
        return data


AdapterStorageConfig = StorageMetadataConfig


class AdapterConfig(_Strict):
    """One entry of a route's `adapters` list."""

    type: str
    config: JSONObject = Field(default_factory=dict)
    condition: ConditionConfig | None = None
    stage: str | None = None
    """Defaults to `type`."""
    storage: StorageMetadataConfig = Field(default_factory=StorageMetadataConfig)
    circuit_breaker: JSONObject | None = None
    """Adapter-level override: only the fields named here replace the top-level breaker."""
    timeout_seconds: float | None = Field(default=None, ge=0.1, le=86_400)

    @property
    def stage_name(self) -> str:
        return self.stage or self.type


class InboundConfig(_Strict):
    """A route's inbound queue and consumer settings."""

    queue: str
    subscription: str | None = None
    """Defaults to the route id."""
    concurrency: int = Field(default=1, ge=1, le=1000)
    prefetch: int = Field(default=10, ge=1, le=10_000)
    pool: str = Field(default=DEFAULT_POOL, pattern=POOL_NAME_PATTERN.pattern)
    """The worker pool that runs this route (docs/guides/scaling.md)."""

    @property
    def queue_name(self) -> str:
        return normalize_queue_name(self.queue)


class OutboundConfig(_Strict):
    """Where a route's final outputs go."""

    queue: str
    condition: ConditionConfig | None = None

    @property
    def queue_name(self) -> str:
        return normalize_queue_name(self.queue)


class RouteConfig(_Strict):
    """One route: an inbound queue, an adapter chain and outbound queues."""

    name: str | None = None
    description: str | None = None
    inbound: InboundConfig
    adapters: list[AdapterConfig] = Field(min_length=1, max_length=50)
    outbound: list[OutboundConfig] = Field(default_factory=list)
    error_handling: JSONObject | None = None
    """Route-level override: only the fields named here replace the inherited policy."""
    backpressure: JSONObject | None = None
    """Route-level override: only the fields named here replace the inherited policy."""


class InitMessageConfig(_Strict):
    """The seed message."""

    route: str
    payload: JSONObject = Field(default_factory=dict)


class ProcessorConfig(BaseModel):
    """The merged policy of one route; computed, never written in YAML."""

    model_config = ConfigDict(frozen=True)

    route_id: str
    subscription: str
    inbound_queue: str
    dead_letter_queue: str
    concurrency: int
    prefetch: int
    error_handling: ErrorHandlingConfig
    backpressure: BackpressureConfig
    """`max_concurrency` is resolved (never `None`)."""
    orchestrator: OrchestratorConfig


class PipelineGlobalConfig(_Strict):
    """The whole pipeline file."""

    version: Literal["1.0"]
    name: str | None = None
    description: str | None = None
    routes: dict[str, RouteConfig]
    init_message: InitMessageConfig | None = None
    error_handling: ErrorHandlingConfig = Field(default_factory=ErrorHandlingConfig)
    backpressure: BackpressureConfig = Field(default_factory=BackpressureConfig)
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)
    orchestrator: OrchestratorConfig = Field(default_factory=OrchestratorConfig)

    def processor_config(self, route_id: str) -> ProcessorConfig:
        """Merge the top-level policies with the route's overrides."""
        route = self.routes[route_id]
        error_handling = self.error_handling.model_copy(update=route.error_handling or {})
        backpressure = self.backpressure.model_copy(update=route.backpressure or {})
        if backpressure.max_concurrency is None:
            backpressure = backpressure.model_copy(update={"max_concurrency": route.inbound.concurrency})
        dlq = normalize_queue_name(error_handling.dead_letter_queue or f"dlq.{route_id}")
        return ProcessorConfig(
            route_id=route_id,
            subscription=route.inbound.subscription or route_id,
            inbound_queue=route.inbound.queue_name,
            dead_letter_queue=dlq,
            concurrency=route.inbound.concurrency,
            prefetch=route.inbound.prefetch,
            error_handling=error_handling.model_copy(update={"dead_letter_queue": dlq}),
            backpressure=backpressure,
            orchestrator=self.orchestrator,
        )

    def breaker_for(self, route_id: str, adapter_index: int) -> CircuitBreakerConfig:
        """The top-level breaker with the adapter's overrides applied."""
        override = self.routes[route_id].adapters[adapter_index].circuit_breaker
        if override is None:
            return self.circuit_breaker
        return self.circuit_breaker.model_copy(update=override)

    def consumed_queues(self) -> dict[str, str]:
        """Normalised inbound queue → route id."""
        return {route.inbound.queue_name: route_id for route_id, route in self.routes.items()}
