from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from factflow_embeddings import PgVectorStore, VectorRecord, VectorWriterAdapter, pgvector_statements, vector_literal
from factflow_embeddings._pgvector_store import asyncpg_dsn
from factflow_infra.testing import postgres_test_schema
from factflow_protocols import PipelineContext

pytestmark = pytest.mark.postgres


@pytest.fixture
async def schema_url() -> AsyncIterator[str]:
    async with postgres_test_schema() as url:
        yield url


def test_statements_upsert_by_collection_and_message_id() -> None:
    statements = pgvector_statements("my_vectors")
    assert statements["extension"] == "CREATE EXTENSION IF NOT EXISTS vector"
    assert "embedding vector NOT NULL" in statements["table"]
    assert "PRIMARY KEY (collection, message_id)" in statements["table"]
    assert "$7::vector" in statements["upsert"]
    assert "ON CONFLICT (collection, message_id) DO UPDATE" in statements["upsert"]
    assert vector_literal([0.5, -1, 2.25]) == "[0.5,-1.0,2.25]"
    assert asyncpg_dsn("postgresql+asyncpg://u@h/db?search_path=s") == "postgresql://u@h/db?search_path=s"


async def test_the_sql_runs_on_postgresql_without_the_extension(schema_url: str) -> None:
    # Where pgvector is missing, a text domain named `vector` stands in for its type, so the very
    # statements the store sends (table, index, upsert with `::vector`) run on a real server.
    connection = await asyncpg.connect(asyncpg_dsn(schema_url))
    try:
        await connection.execute("CREATE DOMAIN vector AS text")
        store = PgVectorStore(schema_url, table="site_vectors", create_extension=False)
        adapter = VectorWriterAdapter(store=store)
        await adapter.start()
        try:
            for delivery, vector in enumerate(([1.0, 0.0], [0.0, 1.0]), start=1):
                context = PipelineContext(
                    message={"embedding": vector, "embedding_model": "m", "url": "u", "text": "t"},
                    correlation_id="msg-1",
                    execution_id="exec-1",
                    delivery_count=delivery,
                )
                await adapter.process(context)
        finally:
            await adapter.stop()
        rows = await connection.fetch("SELECT message_id, embedding, write_count, metadata FROM site_vectors")
        assert [(row["message_id"], row["embedding"], row["write_count"]) for row in rows] == [
            ("msg-1", "[0.0,1.0]", 2)
        ]
        assert rows[0]["metadata"] == '{"url": "u"}'
    finally:
        await connection.close()


async def test_pgvector_extension_end_to_end(schema_url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(schema_url))
    try:
        available = await connection.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
        if not available:
            # Not a service outage: this server lacks the extension (also in CI here), so skip even with CI=true.
            pytest.skip("the pgvector extension is not installed on this PostgreSQL server")
        store = PgVectorStore(schema_url, table="site_vectors")
        record = VectorRecord(message_id="m", collection="c", vector=[0.6, 0.8], model="x")
        try:
            await store.upsert([record])
            await store.upsert([record])
        finally:
            await store.close()
        distance = await connection.fetchval("SELECT embedding <=> '[0.6,0.8]'::vector FROM site_vectors")
        assert distance == pytest.approx(0.0, abs=1e-6)
        assert await connection.fetchval("SELECT write_count FROM site_vectors") == 2
    finally:
        await connection.close()
