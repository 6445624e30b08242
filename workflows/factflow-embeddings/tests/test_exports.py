from __future__ import annotations

import factflow_embeddings

EXPORTS = {
    "EmbeddingGeneratorAdapter",
    "EmbeddingGeneratorConfig",
    "VectorWriterAdapter",
    "VectorWriterConfig",
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
    "StoreName",
    "VectorStore",
    "VectorRecord",
    "SearchHit",
    "SqliteVectorStore",
    "sqlite_store_path",
    "PgVectorStore",
    "pgvector_statements",
    "vector_literal",
}


def test_public_surface_is_pinned() -> None:
    assert set(factflow_embeddings.__all__) == EXPORTS
    assert len(factflow_embeddings.__all__) == len(EXPORTS)
