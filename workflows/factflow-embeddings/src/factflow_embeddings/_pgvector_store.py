"""PostgreSQL with the pgvector extension, through asyncpg (the `pgvector` extra)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._store import VectorRecord

__all__ = ("PgVectorStore", "asyncpg_dsn", "pgvector_statements", "upsert_rows", "vector_literal")


def vector_literal(vector: Sequence[float]) -> str:
    """Pgvector's text form, `[0.1,0.2,…]`; sent as text and cast, so no client-side codec is needed."""
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


def asyncpg_dsn(url: str) -> str:
    """A libpq URL from a SQLAlchemy-style one (`postgresql+asyncpg://` → `postgresql://`)."""
    scheme, separator, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{separator}{rest}"


def pgvector_statements(table: str) -> dict[str, str]:
    """The SQL the store sends: `extension`, `table`, `index` and `upsert` (parameters `$1`…`$9`).

    The vector column has no fixed dimension, so one table holds vectors of several models; an
    HNSW or IVFFlat index needs a fixed dimension and is left to the operator (see the guide).
    """
    return {
        "extension": "CREATE EXTENSION IF NOT EXISTS vector",
        "table": (
            f"CREATE TABLE IF NOT EXISTS {table} ("
            "collection text NOT NULL, message_id text NOT NULL, execution_id text, model text, "
            "dimensions integer NOT NULL, text_hash text, embedding vector NOT NULL, metadata jsonb NOT NULL, "
            "text text, write_count integer NOT NULL DEFAULT 1, updated_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (collection, message_id))"
        ),
        "index": f"CREATE INDEX IF NOT EXISTS {table}_execution ON {table} (execution_id)",
        "upsert": (
            f"INSERT INTO {table} (collection, message_id, execution_id, model, dimensions, text_hash, "
            "embedding, metadata, text) VALUES ($1, $2, $3, $4, $5, $6, $7::vector, $8::jsonb, $9) "
            "ON CONFLICT (collection, message_id) DO UPDATE SET execution_id = EXCLUDED.execution_id, "
            "model = EXCLUDED.model, dimensions = EXCLUDED.dimensions, text_hash = EXCLUDED.text_hash, "
            "embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata, text = EXCLUDED.text, "
            f"write_count = {table}.write_count + 1, updated_at = now()"
        ),
    }


def upsert_rows(records: Sequence[VectorRecord]) -> list[tuple[Any, ...]]:
    """The parameter rows of the `upsert` statement."""
    return [
        (
            record.collection,
            record.message_id,
            record.execution_id,
            record.model,
            record.dimensions,
            record.text_hash,
            vector_literal(record.vector),
            json.dumps(record.metadata, sort_keys=True, default=str),
            record.text,
        )
        for record in records
    ]


class PgVectorStore:
    """Vectors in a PostgreSQL table with a pgvector `vector` column; upserts by `(collection, message_id)`."""

    def __init__(self, url: str, *, table: str = "factflow_vectors", create_extension: bool = True) -> None:
        self._dsn = asyncpg_dsn(url)
        self.table = table
        self.create_extension = create_extension
        self._pool: Any = None
        self._statements = pgvector_statements(table)

    def __repr__(self) -> str:
        return f"PgVectorStore(table={self.table!r})"  # the URL may hold a password

    async def open(self) -> None:
        if self._pool is not None:
            return
        import asyncpg

        pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
        try:
            async with pool.acquire() as connection, connection.transaction():
                # Routes start their adapters concurrently; CREATE … IF NOT EXISTS alone can still race.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.table)
                if self.create_extension:
                    await connection.execute(self._statements["extension"])
                await connection.execute(self._statements["table"])
                await connection.execute(self._statements["index"])
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        await self.open()
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.executemany(self._statements["upsert"], upsert_rows(records))

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
