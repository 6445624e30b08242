"""`delay`: waits, then passes the message on (demos and benchmarks)."""

from __future__ import annotations

import asyncio
import random

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext

from ._fields import typed_config

__all__ = ("DelayAdapter", "DelayConfig")


class DelayConfig(BaseModel):
    """Options of the `delay` adapter."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    ms: StrictInt = Field(ge=0, le=600_000)
    """Milliseconds to wait (0-600000)."""
    jitter_ms: StrictInt = Field(default=0, ge=0)
    """Up to this many extra milliseconds, drawn uniformly per message."""


class DelayAdapter(PipelineAdapter):
    """Sleeps `ms` (plus uniform jitter up to `jitter_ms`), then returns its input. Cancel-safe."""

    adapter_type = "delay"
    config_model = DelayConfig

    def __init__(self, config: BaseModel | None = None) -> None:
        super().__init__(config)
        self.options = typed_config(config, DelayConfig)
        self.random = random.Random()
        """Source of the jitter; seed it for reproducible runs."""

    def pause_seconds(self) -> float:
        """How long the next message waits, in seconds."""
        jitter = self.random.uniform(0, self.options.jitter_ms) if self.options.jitter_ms else 0.0
        return (self.options.ms + jitter) / 1000

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        # Nothing to release: a cancellation simply propagates out of the sleep.
        await asyncio.sleep(self.pause_seconds())
        return AdapterResult(message=context.message)
