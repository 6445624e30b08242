"""`vector_writer`: upsert a message's embedding, keyed by the message id, into a vector store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from factflow_foundation import get_settings
from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

from ._config import VectorWriterConfig
from ._pgvector_store import PgVectorStore
from ._settings import EmbeddingsSettings
from ._sqlite_store import SqliteVectorStore
from ._store import VectorRecord, VectorStore
from ._text import find_text, resolve_path

__all__ = ("DEFAULT_SQLITE_FILE", "VectorWriterAdapter", "sqlite_store_path")

DEFAULT_SQLITE_FILE = "vectors.sqlite"


def sqlite_store_path(path: str | None = None) -> Path:
    """The embedded store's file: `path` if absolute, else under `DATA_DIR` (`vectors.sqlite` by default)."""
    candidate = Path(path or DEFAULT_SQLITE_FILE).expanduser()
    if candidate.is_absolute():
        return candidate
    return get_settings().data_dir.expanduser().resolve() / candidate


class VectorWriterAdapter(PipelineAdapter):
    """Writes `embedding` with its model, text hash, chosen metadata and text under the message id.

    The message id is the key, so a redelivery or a retry overwrites the row instead of adding
    one; a replay (new message ids) adds rows that name their own execution. The message goes
    on without the vector, with `vector_id` and `vector_collection` added.
    """

    adapter_type: ClassVar[str] = "vector_writer"
    config_model: ClassVar[type[BaseModel] | None] = VectorWriterConfig

    def __init__(self, config: BaseModel | None = None, *, store: VectorStore | None = None) -> None:
        super().__init__(config or VectorWriterConfig())
        assert isinstance(self.config, VectorWriterConfig)
        self.options: VectorWriterConfig = self.config
        self._store = store

    @property
    def store(self) -> VectorStore:
        """The store, built from the config on first use."""
        if self._store is None:
            self._store = self._build_store()
        return self._store

    def _build_store(self) -> VectorStore:
        if self.options.store == "sqlite":
            return SqliteVectorStore(sqlite_store_path(self.options.path), table=self.options.table)
        if self.options.database_url_env is not None:
            url = os.environ.get(self.options.database_url_env)
            if not url:
                raise NonRetryableError(
                    f"`vector_writer` reads its PostgreSQL URL from ${self.options.database_url_env}, which is not set"
                )
        else:
            secret = EmbeddingsSettings().pgvector_url
            if secret is None:
                raise NonRetryableError(
                    "`vector_writer` with `store: pgvector` needs `database_url_env`"
                    " or FACTFLOW_EMBEDDINGS_PGVECTOR_URL"
                )
            url = secret.get_secret_value()
        return PgVectorStore(url, table=self.options.table, create_extension=self.options.create_extension)

    async def start(self) -> None:
        await self.store.open()

    async def stop(self) -> None:
        if self._store is not None:
            await self._store.close()

    def _metadata(self, payload: dict[str, Any]) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        for path in self.options.metadata_fields:
            found, value = resolve_path(payload, path)
            if found:
                metadata[path.replace(".", "_")] = value
        return metadata

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        payload = context.message
        vector = payload.get("embedding")
        if not isinstance(vector, list) or not vector or not all(isinstance(value, int | float) for value in vector):
            raise NonRetryableError("`vector_writer` needs a non-empty list of numbers at `embedding`")
        text = None
        if self.options.store_text:
            found = find_text(payload, self.options.text_fields)
            text = found[1] if found else None
        model = payload.get("embedding_model")
        text_hash = payload.get("text_hash")
        record = VectorRecord(
            message_id=context.correlation_id,
            collection=self.options.collection,
            vector=[float(value) for value in vector],
            model=model if isinstance(model, str) else None,
            execution_id=context.execution_id,
            text_hash=text_hash if isinstance(text_hash, str) else None,
            text=text,
            metadata=self._metadata(payload),
        )
        await self.store.upsert([record])
        message = {key: value for key, value in payload.items() if key != "embedding"}
        message.update(vector_id=context.correlation_id, vector_collection=self.options.collection)
        return AdapterResult(message=message)
