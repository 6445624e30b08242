"""`fail`: raises for matching messages, to demonstrate and test retries and dead-lettering."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from factflow_engine.conditions import evaluate_condition
from factflow_foundation import FactflowError
from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

from ._fields import Condition, typed_config

__all__ = ("FailAdapter", "FailConfig", "InducedFailureError")


class InducedFailureError(FactflowError):
    """The retryable failure the `fail` adapter raises."""

    default_code = "induced_failure"


class FailConfig(BaseModel):
    """Options of the `fail` adapter."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    condition: Condition | None = None
    """Only messages meeting this condition fail; `null` means every message."""
    times: Annotated[StrictInt, Field(ge=1)] | None = None
    """A matching message fails on its first `times` attempts, then passes; `null` means always."""
    message: StrictStr = "induced failure"
    """Text of the raised error."""
    retryable: StrictBool = True
    """`false` raises a non-retryable error, which goes straight to the dead-letter queue."""


class FailAdapter(PipelineAdapter):
    """Raises for matching messages, on their first `times` attempts; everything else passes through unchanged."""

    adapter_type = "fail"
    config_model = FailConfig

    def __init__(self, config: BaseModel | None = None) -> None:
        super().__init__(config)
        self.options = typed_config(config, FailConfig)

    def _matches(self, context: PipelineContext) -> bool:
        condition = self.options.condition
        return condition is None or evaluate_condition(condition, context.message)

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        times = self.options.times
        # `attempt` counts within one delivery, exactly as the route's retries do.
        if self._matches(context) and (times is None or context.attempt <= times):
            if self.options.retryable:
                raise InducedFailureError(self.options.message)
            raise NonRetryableError(self.options.message, code="induced_failure")
        return AdapterResult(message=context.message)
