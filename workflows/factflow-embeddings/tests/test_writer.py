from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from factflow_embeddings import (
    SqliteVectorStore,
    VectorRecord,
    VectorWriterAdapter,
    VectorWriterConfig,
    hashing_vector,
    sqlite_store_path,
)
from factflow_foundation import override_settings
from factflow_protocols import NonRetryableError, PipelineContext

SEGMENT = {
    "document_id": "doc_1",
    "url": "http://site/a.html",
    "title": "A",
    "segment": {"index": 0, "heading": "Intro", "text": "Queues carry messages."},
    "embedding_model": "m1",
    "text_hash": "sha256:abc",
}


def _context(vector: list[float], *, message_id: str = "msg-1", delivery_count: int = 1) -> PipelineContext:
    return PipelineContext(
        message={**SEGMENT, "embedding": vector},
        correlation_id=message_id,
        execution_id="exec-1",
        delivery_count=delivery_count,
    )


async def test_redelivery_overwrites_instead_of_duplicating(tmp_path: Path) -> None:
    adapter = VectorWriterAdapter(VectorWriterConfig(path=str(tmp_path / "v.sqlite"), collection="site"))
    await adapter.start()
    try:
        first = await adapter.process(_context([1.0, 0.0]))
        await adapter.process(_context([0.0, 1.0], delivery_count=2))  # a redelivery after a crash
        await asyncio.gather(*(adapter.process(_context([0.0, 1.0], delivery_count=3)) for _ in range(5)))
        await adapter.process(_context([1.0, 1.0], message_id="msg-2"))
    finally:
        await adapter.stop()
    assert first is not None and first.message is not None
    assert "embedding" not in first.message
    assert first.message["vector_id"] == "msg-1" and first.message["vector_collection"] == "site"

    store = SqliteVectorStore(tmp_path / "v.sqlite")
    try:
        rows = {row["message_id"]: row for row in await store.list_vectors(collection="site")}
        assert sorted(rows) == ["msg-1", "msg-2"]
        row = rows["msg-1"]
        assert row["write_count"] == 7 and row["execution_id"] == "exec-1"
        assert row["model"] == "m1" and row["dimensions"] == 2 and row["text_hash"] == "sha256:abc"
        assert row["text"] == "Queues carry messages."
        assert row["metadata"] == {
            "document_id": "doc_1",
            "url": "http://site/a.html",
            "title": "A",
            "segment_index": 0,
            "segment_heading": "Intro",
        }
        assert await store.vector(collection="site", message_id="msg-1") == [0.0, 1.0]
    finally:
        await store.close()


async def test_search_ranks_by_cosine_distance_within_collection_and_model(tmp_path: Path) -> None:
    store = SqliteVectorStore(tmp_path / "v.sqlite")
    texts = {"a": "queues carry messages between routes", "b": "lemon cake recipe", "c": "routes read queues"}
    records = [
        VectorRecord(
            message_id=key, collection="docs", vector=hashing_vector(text, dimensions=64), model="h", text=text
        )
        for key, text in texts.items()
    ]
    other = VectorRecord(message_id="x", collection="other", vector=hashing_vector("queues", dimensions=64), model="h")
    try:
        await store.upsert([*records, other])
        hits = await store.search(hashing_vector("which routes read queues", dimensions=64), collection="docs")
        assert [hit.message_id for hit in hits] == ["c", "a", "b"]
        assert 0.0 <= hits[0].distance < hits[-1].distance <= 2.0
        assert await store.search(records[0].vector, collection="docs", model="another") == []
    finally:
        await store.close()


async def test_default_file_lives_under_the_data_dir(tmp_path: Path) -> None:
    with override_settings(data_dir=tmp_path / "data"):
        assert sqlite_store_path() == (tmp_path / "data" / "vectors.sqlite").resolve()
        assert sqlite_store_path("sub/x.sqlite") == (tmp_path / "data" / "sub" / "x.sqlite").resolve()
        assert sqlite_store_path(str(tmp_path / "abs.sqlite")) == tmp_path / "abs.sqlite"
        adapter = VectorWriterAdapter()
        await adapter.start()
        try:
            await adapter.process(_context([0.5, 0.5]))
        finally:
            await adapter.stop()
    assert (tmp_path / "data" / "vectors.sqlite").is_file()


async def test_a_message_without_a_vector_is_refused(tmp_path: Path) -> None:
    adapter = VectorWriterAdapter(VectorWriterConfig(path=str(tmp_path / "v.sqlite")))
    with pytest.raises(NonRetryableError, match="`embedding`"):
        await adapter.process(PipelineContext(message={"text": "x"}, correlation_id="m"))
    with pytest.raises(NonRetryableError, match="`embedding`"):
        await adapter.process(PipelineContext(message={"embedding": ["a"]}, correlation_id="m"))
    await adapter.stop()


def test_metadata_is_json_and_text_can_be_left_out(tmp_path: Path) -> None:
    config = VectorWriterConfig(store_text=False, metadata_fields=("url",))
    assert json.loads(config.model_dump_json())["metadata_fields"] == ["url"]
