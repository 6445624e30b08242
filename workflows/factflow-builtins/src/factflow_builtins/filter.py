"""`filter`: keeps the messages a condition holds for."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from factflow_engine.conditions import evaluate_condition
from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext

from ._fields import Condition, typed_config

__all__ = ("FilterAdapter", "FilterConfig")


class FilterConfig(BaseModel):
    """Options of the `filter` adapter."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    condition: Condition
    """The condition a message must meet to continue (same shape as in the pipeline YAML)."""


class FilterAdapter(PipelineAdapter):
    """Passes a message on when the condition holds; otherwise its chain ends (status `completed`)."""

    adapter_type = "filter"
    config_model = FilterConfig

    def __init__(self, config: BaseModel | None = None) -> None:
        super().__init__(config)
        self.options = typed_config(config, FilterConfig)

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        if evaluate_condition(self.options.condition, context.message):
            return AdapterResult(message=context.message)
        return None
