"""`embedding_generator`: embed a message's text and record the vector with its model and text hash."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from factflow_engine.storage import build_embedding_metadata
from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

from ._batching import MicroBatcher
from ._config import EmbeddingGeneratorConfig
from ._factory import build_provider
from ._provider import EmbeddingProvider
from ._text import find_text, hash_text

__all__ = ("EmbeddingGeneratorAdapter",)


class EmbeddingGeneratorAdapter(PipelineAdapter):
    """Adds `embedding`, `embedding_model`, `embedding_dimensions`, `embedding_slot` and `text_hash`.

    The text is the first string found at `text_fields` (a `segment_publisher` segment's
    `segment.text` by default). Concurrent messages are embedded together, up to `batch_size`
    texts per provider call; the call's id becomes the lineage batch id. The stored output's
    sidecar carries `embedding_model`, `embedding_slot`, `embedding_dimensions`,
    `embedding_count` and `text_hash`.
    """

    adapter_type: ClassVar[str] = "embedding_generator"
    config_model: ClassVar[type[BaseModel] | None] = EmbeddingGeneratorConfig

    def __init__(self, config: BaseModel | None = None, *, provider: EmbeddingProvider | None = None) -> None:
        super().__init__(config or EmbeddingGeneratorConfig())
        assert isinstance(self.config, EmbeddingGeneratorConfig)
        self.options: EmbeddingGeneratorConfig = self.config
        self._provider = provider
        self._batcher: MicroBatcher | None = None

    @property
    def provider(self) -> EmbeddingProvider:
        """The provider, built from the config on first use."""
        if self._provider is None:
            self._provider = build_provider(self.options)
        return self._provider

    @property
    def batcher(self) -> MicroBatcher:
        """The micro-batcher every concurrent `process` call goes through."""
        if self._batcher is None:
            self._batcher = MicroBatcher(
                self.provider.embed,
                batch_size=self.options.batch_size,
                wait_seconds=self.options.batch_wait_ms / 1000,
            )
        return self._batcher

    async def start(self) -> None:
        await self.provider.start()

    async def stop(self) -> None:
        try:
            if self._batcher is not None:
                await self._batcher.aclose()
        finally:
            if self._provider is not None:
                await self._provider.close()

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        found = find_text(context.message, self.options.text_fields)
        if found is None:
            fields = ", ".join(f"`{field}`" for field in self.options.text_fields)
            raise NonRetryableError(f"`embedding_generator` found no text at {fields}")
        _, text = found
        batched = await self.batcher.submit(text)
        message = {
            **context.message,
            "embedding": batched.vector,
            "embedding_model": self.provider.model,
            "embedding_dimensions": len(batched.vector),
            "embedding_slot": self.options.slot,
            "text_hash": hash_text(text),
        }
        sidecar = {**build_embedding_metadata(message), "text_hash": message["text_hash"]}
        return AdapterResult(message=message, storage_metadata=sidecar, batch_id=batched.batch_id)
