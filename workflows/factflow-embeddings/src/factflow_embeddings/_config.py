"""Config models of `embedding_generator` and `vector_writer`, checked by the pipeline validator."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._text import DEFAULT_TEXT_FIELDS

__all__ = (
    "EmbeddingGeneratorConfig",
    "HashingOptions",
    "OnnxOptions",
    "OpenAIOptions",
    "ProviderName",
    "StoreName",
    "VectorWriterConfig",
)

ProviderName = Literal["hashing", "openai", "onnx"]
StoreName = Literal["sqlite", "pgvector"]

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HashingOptions(_Strict):
    """Options of the `hashing` provider."""

    dimensions: int = Field(default=256, ge=8, le=65_536)
    """Length of each vector."""
    ngram: int = Field(default=2, ge=1, le=3)
    """Hash words and runs of up to this many consecutive words."""


class OpenAIOptions(_Strict):
    """Options of the `openai` provider (any OpenAI-compatible `/v1/embeddings` server)."""

    model: str = Field(default="text-embedding-3-small", min_length=1)
    """Model name sent with every request."""
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    """URL up to and including `/v1`; else `FACTFLOW_EMBEDDINGS_OPENAI_BASE_URL`, else OpenAI's."""
    api_key_env: str | None = Field(default=None, pattern=_ENV_NAME)
    """Name of the environment variable holding the key; else `FACTFLOW_EMBEDDINGS_OPENAI_API_KEY`."""
    api_key_header: Literal["authorization", "api-key"] = "authorization"
    """`authorization` sends `Bearer <key>`; `api-key` sends the key as Azure OpenAI expects."""
    dimensions: int | None = Field(default=None, ge=1, le=65_536)
    """Ask the model for shorter vectors (models that support it)."""
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    """Limit of one HTTP request."""
    max_retries: int = Field(default=5, ge=0, le=20)
    """Retries of one request after a 429, a 5xx or a network error."""
    retry_backoff_seconds: float = Field(default=0.5, ge=0, le=60)
    """First wait between retries when the server sends no `Retry-After`; doubles each time."""
    max_retry_wait_seconds: float = Field(default=60, ge=0, le=3600)
    """Longest single wait, also for a `Retry-After` the server sends."""


class OnnxOptions(_Strict):
    """Options of the `onnx` provider (a local directory with `model.onnx` and `tokenizer.json`)."""

    model_dir: str = Field(min_length=1)
    """Directory of the exported model, on the host that runs the route."""
    model_name: str | None = None
    """Name recorded with each vector; the directory's name when unset."""
    max_length: int = Field(default=256, ge=1, le=8192)
    """Tokens per text; longer texts are truncated."""
    normalize: bool = True
    """L2-normalise the pooled vectors (cosine similarity becomes a dot product)."""
    threads: int | None = Field(default=None, ge=1, le=256)
    """ONNX Runtime intra-op threads; its default when unset."""


class EmbeddingGeneratorConfig(_Strict):
    """Options of `embedding_generator`."""

    provider: ProviderName = "hashing"
    """Which provider computes the vectors."""
    text_fields: tuple[str, ...] = Field(default=DEFAULT_TEXT_FIELDS, min_length=1)
    """Dotted paths tried in order; the first string found is embedded."""
    slot: str = Field(default="default", min_length=1, max_length=64)
    """Name of this embedding among several of the same text (recorded, not interpreted)."""
    batch_size: int = Field(default=32, ge=1, le=2048)
    """Most texts per provider call; concurrent messages share calls up to this size."""
    batch_wait_ms: int = Field(default=10, ge=0, le=10_000)
    """How long a text waits for others to fill its batch."""
    hashing: HashingOptions | None = None
    """Options when `provider: hashing`."""
    openai: OpenAIOptions | None = None
    """Options when `provider: openai`."""
    onnx: OnnxOptions | None = None
    """Options when `provider: onnx` (required then: it names the model directory)."""

    @model_validator(mode="after")
    def _sections_match_provider(self) -> EmbeddingGeneratorConfig:
        for name in ("hashing", "openai", "onnx"):
            if name != self.provider and getattr(self, name) is not None:
                raise ValueError(f"'{name}' options are given but 'provider' is '{self.provider}'")
        if self.provider == "onnx" and self.onnx is None:
            raise ValueError("provider 'onnx' needs an 'onnx' section with 'model_dir'")
        return self


class VectorWriterConfig(_Strict):
    """Options of `vector_writer`."""

    store: StoreName = "sqlite"
    """`sqlite` (embedded, sqlite-vec, a file under `DATA_DIR`) or `pgvector` (PostgreSQL)."""
    collection: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    """Vectors of different collections never mix in a search."""
    path: str | None = Field(default=None, min_length=1)
    """SQLite file, relative to `DATA_DIR` unless absolute; `vectors.sqlite` when unset."""
    table: str = Field(default="factflow_vectors", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """Table that holds the vectors (both stores)."""
    database_url_env: str | None = Field(default=None, pattern=_ENV_NAME)
    """`pgvector`: environment variable holding the PostgreSQL URL; else `FACTFLOW_EMBEDDINGS_PGVECTOR_URL`."""
    create_extension: bool = True
    """`pgvector`: run `CREATE EXTENSION IF NOT EXISTS vector` when the table is created."""
    metadata_fields: tuple[str, ...] = ("document_id", "url", "title", "segment.index", "segment.heading")
    """Dotted payload paths stored with each vector, under the path with `.` replaced by `_`."""
    store_text: bool = True
    """Keep the embedded text beside its vector."""
    text_fields: tuple[str, ...] = Field(default=DEFAULT_TEXT_FIELDS, min_length=1)
    """Where the text is read from when `store_text` is on."""

    @model_validator(mode="after")
    def _options_match_store(self) -> VectorWriterConfig:
        if self.store == "pgvector" and self.path is not None:
            raise ValueError("'path' is a 'sqlite' option; PostgreSQL is named by 'database_url_env'")
        if self.store == "sqlite" and self.database_url_env is not None:
            raise ValueError("'database_url_env' is a 'pgvector' option")
        return self
