"""Build the provider an `embedding_generator` config names."""

from __future__ import annotations

import os

from factflow_protocols import NonRetryableError

from ._config import EmbeddingGeneratorConfig, OpenAIOptions
from ._hashing import HashingProvider
from ._onnx import OnnxProvider
from ._openai import DEFAULT_OPENAI_BASE_URL, OpenAIProvider
from ._provider import EmbeddingProvider
from ._settings import EmbeddingsSettings

__all__ = ("build_provider",)


def build_provider(config: EmbeddingGeneratorConfig, settings: EmbeddingsSettings | None = None) -> EmbeddingProvider:
    """The provider of `config`, with keys and URLs taken from `settings` and the environment."""
    if config.provider == "openai":
        return _openai(config.openai or OpenAIOptions(), settings or EmbeddingsSettings())
    if config.provider == "onnx":
        assert config.onnx is not None  # the config model requires the section
        return OnnxProvider(config.onnx)
    return HashingProvider(config.hashing)


def _openai(options: OpenAIOptions, settings: EmbeddingsSettings) -> OpenAIProvider:
    if options.api_key_env is not None:
        api_key = os.environ.get(options.api_key_env)
        if not api_key:
            raise NonRetryableError(
                f"`embedding_generator` reads its key from ${options.api_key_env}, which is not set"
            )
    else:
        api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    base_url = options.base_url or settings.openai_base_url or DEFAULT_OPENAI_BASE_URL
    return OpenAIProvider(options, base_url=base_url, api_key=api_key)
