"""The adapter contract: `PipelineAdapter`, the `PipelineContext` it receives and its `AdapterResult`."""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from factflow_foundation import ExecutionPathResolver, StagePaths, new_id

from ._json import JSONObject

if TYPE_CHECKING:
    from ._storage import StorageProtocol

__all__ = ("AdapterResult", "PipelineAdapter", "PipelineContext")

_TEST_EXECUTION_ID = "00000000-0000-7000-8000-000000000000"


def _default_paths() -> StagePaths:
    return ExecutionPathResolver.bind(_TEST_EXECUTION_ID, "test_route", "test_stage", new_id())


@dataclass(frozen=True, slots=True)
class PipelineContext:
    """Everything one adapter invocation may read.

    Every field except `message` and `correlation_id` has a default, so adapter tests can build
    a context in one line.
    """

    message: JSONObject
    """The payload reaching this adapter; a fresh copy per invocation."""
    correlation_id: str
    """The message id."""
    parent_correlation_id: str | None = None
    execution_id: str = _TEST_EXECUTION_ID
    route_id: str = "test_route"
    stage_name: str = "test_stage"
    adapter_index: int = 0
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Envelope metadata as it travels, read-only: the adapters' keys plus the envelope's control
    fields that differ from their defaults (`hop_count`, `trace_id`, ...; see `EnvelopeControl`)."""
    delivery_count: int = 1
    """Deliveries of this message so far (1 = first)."""
    attempt: int = 1
    """Attempt within this delivery (1 = first call; retries count up)."""
    replay_batch_id: str | None = None
    lineage_id: str | None = None
    """Id of this invocation's lineage row."""
    config_hash: str | None = None
    storage: StorageProtocol | None = None
    """Storage for artefacts; `None` when the adapter runs without storage."""
    paths: StagePaths = field(default_factory=_default_paths)
    """Keys of this invocation (`paths.artefact_key(name)` for large content)."""
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = field(
        default_factory=lambda: logging.getLogger("factflow.adapter")
    )


@dataclass(slots=True)
class AdapterResult:
    """What an adapter returns.

    A result with neither `message` nor `emitted` ends the chain for the message, as `None` does.
    """

    message: JSONObject | None = None
    """Continues under the same id, to the next adapter or as a final output."""
    emitted: list[JSONObject] = field(default_factory=list)
    """Fan-out: one child message per item, with deterministic ids."""
    storage_metadata: JSONObject = field(default_factory=dict)
    """Extra sidecar fields for the stored output."""
    batch_id: str | None = None
    """Adapter batch id (a UUID), copied to lineage."""
    metadata: JSONObject = field(default_factory=dict)
    """Merged into the outgoing envelope metadata; reserved keys are ignored."""

    def __post_init__(self) -> None:
        if self.batch_id is not None:
            uuid.UUID(self.batch_id)

    @property
    def is_empty(self) -> bool:
        """True when the chain ends here with no output."""
        return self.message is None and not self.emitted


class PipelineAdapter(ABC):
    """Base class of every adapter.

    Subclasses set `adapter_type` (the YAML `type`, equal to the entry-point name), optionally
    a pydantic `config_model`, and implement `process`. `start()` and `stop()` are optional
    hooks; one instance serves one adapter entry of one execution and `process` is called
    concurrently.
    """

    adapter_type: ClassVar[str]
    config_model: ClassVar[type[BaseModel] | None] = None

    def __init__(self, config: BaseModel | None = None) -> None:
        self.config = config

    @abstractmethod
    async def process(self, context: PipelineContext) -> AdapterResult | None:
        """Handle one message; raise to fail (retryable unless `NonRetryableError`)."""

    async def start(self) -> None:  # noqa: B027  # optional hook, a no-op by default
        """Acquire resources before the route subscribes."""

    async def stop(self) -> None:  # noqa: B027  # optional hook, a no-op by default
        """Release resources after the route stops, also after a failure or cancellation."""
