"""Adapters that embed text and keep the vectors in a vector store.

Registered through the `factflow.adapters` entry points: `embedding_generator` (providers
`hashing`, `openai`, `onnx`) and `vector_writer` (SQLite + sqlite-vec, or PostgreSQL + pgvector).
"""

from __future__ import annotations

from ._batching import BatchedVector, MicroBatcher
from ._config import (
    EmbeddingGeneratorConfig,
    HashingOptions,
    OnnxOptions,
    OpenAIOptions,
    ProviderName,
    StoreName,
    VectorWriterConfig,
)
from ._factory import build_provider
from ._hashing import HashingProvider, hashing_vector
from ._onnx import OnnxProvider, load_onnx_model
from ._openai import OpenAIProvider, retry_after_seconds
from ._pgvector_store import PgVectorStore, pgvector_statements, vector_literal
from ._provider import EmbeddingProvider
from ._settings import EmbeddingsSettings
from ._sqlite_store import SqliteVectorStore
from ._store import SearchHit, VectorRecord, VectorStore
from ._text import hash_text
from .errors import EmbeddingServiceError
from .generator import EmbeddingGeneratorAdapter
from .writer import VectorWriterAdapter, sqlite_store_path

__all__ = (
    # adapters
    "EmbeddingGeneratorAdapter",
    "EmbeddingGeneratorConfig",
    "VectorWriterAdapter",
    "VectorWriterConfig",
    # providers
    "EmbeddingProvider",
    "EmbeddingServiceError",
    "ProviderName",
    "build_provider",
    "HashingProvider",
    "HashingOptions",
    "hashing_vector",
    "OpenAIProvider",
    "OpenAIOptions",
    "retry_after_seconds",
    "OnnxProvider",
    "OnnxOptions",
    "load_onnx_model",
    "MicroBatcher",
    "BatchedVector",
    "hash_text",
    "EmbeddingsSettings",
    # vector stores
    "StoreName",
    "VectorStore",
    "VectorRecord",
    "SearchHit",
    "SqliteVectorStore",
    "sqlite_store_path",
    "PgVectorStore",
    "pgvector_statements",
    "vector_literal",
)
