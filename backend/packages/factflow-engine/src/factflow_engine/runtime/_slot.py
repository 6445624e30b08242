"""`AdapterSlot`: one adapter entry of a route, with its breaker and its stage storage."""

from __future__ import annotations

from dataclasses import dataclass

from factflow_engine.config import AdapterConfig, ConditionConfig
from factflow_protocols import PipelineAdapter

from ..storage import StageStorageAdapter
from ._circuit_breaker import CircuitBreaker

__all__ = ("AdapterSlot",)


@dataclass(slots=True)
class AdapterSlot:
    """One adapter entry of a route, as the chain runs it."""

    index: int
    config: AdapterConfig
    adapter: PipelineAdapter
    breaker: CircuitBreaker
    storage: StageStorageAdapter

    @property
    def adapter_name(self) -> str:
        return self.config.type

    @property
    def stage(self) -> str:
        return self.config.stage_name

    @property
    def condition(self) -> ConditionConfig | None:
        return self.config.condition

    @property
    def timeout_seconds(self) -> float | None:
        return self.config.timeout_seconds
