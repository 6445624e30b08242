"""`passthrough`: returns its input unchanged."""

from __future__ import annotations

from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext

__all__ = ("PassthroughAdapter",)


class PassthroughAdapter(PipelineAdapter):
    """Returns its input unchanged.

    Takes no configuration (a non-empty `config` is E307).
    """

    adapter_type = "passthrough"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return AdapterResult(message=context.message)
