from __future__ import annotations

import struct
from pathlib import Path
from typing import ClassVar

from factflow_embeddings import SqliteVectorStore, hashing_vector
from factflow_engine.testing import run_pipeline
from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext


class FanOut(PipelineAdapter):
    """One message per entry of `items`, as `segment_publisher` emits one per segment."""

    adapter_type: ClassVar[str] = "fan_out"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        source = context.message["source"]
        return AdapterResult(emitted=[{"source": source, "item": item} for item in context.message["items"]])


PIPELINE = """\
version: "1.0"
name: embed-items
routes:
  intake:
    inbound: {queue: items.in}
    adapters:
      - {type: fan_out}
    outbound:
      - {queue: items.embed}
  embeddings:
    inbound: {queue: items.embed, concurrency: 16, prefetch: 32}
    adapters:
      - type: embedding_generator
        config: {text_fields: [item], batch_size: 8, batch_wait_ms: 50, hashing: {dimensions: 32}}
        storage: {metadata_fields: [source]}
      - type: vector_writer
        config: {path: "%(path)s", collection: items, metadata_fields: [source]}
init_message:
  route: intake
  payload: {source: test, items: []}
"""


async def test_a_route_embeds_and_writes_every_message_in_shared_batches(tmp_path: Path) -> None:
    texts = [f"item number {index} about queues" for index in range(24)]
    store_path = tmp_path / "vectors.sqlite"
    result = await run_pipeline(
        PIPELINE % {"path": store_path},
        init_payload={"source": "test", "items": texts},
        workdir=tmp_path / "run",
        adapters={"fan_out": FanOut},
    )
    assert result.status == "completed", result.error_info

    outputs = result.outputs("embeddings", "embedding_generator")
    assert sorted(output["item"] for output in outputs.values()) == sorted(texts)
    message_id, output = next(iter(outputs.items()))
    sidecar = result.sidecar("embeddings", "embedding_generator", message_id)
    assert sidecar["embedding_model"] == "factflow-hashing-v1-32-n2"
    assert sidecar["embedding_dimensions"] == 32 and sidecar["embedding_count"] == 1
    assert sidecar["text_hash"] == output["text_hash"] and sidecar["source"] == "test"

    rows = [row for row in result.lineage if row["adapter_name"] == "embedding_generator"]
    assert len(rows) == len(texts)
    # Concurrent messages shared provider calls: fewer batches than messages.
    assert len({row["batch_id"] for row in rows}) < len(texts)

    store = SqliteVectorStore(store_path)
    try:
        stored = await store.list_vectors(collection="items", execution_id=result.execution_id)
        assert sorted(row["message_id"] for row in stored) == sorted(outputs)
        assert all(row["metadata"] == {"source": "test"} for row in stored)
        stored_vector = await store.vector(collection="items", message_id=message_id)
        assert stored_vector == _float32(hashing_vector(output["item"], dimensions=32))
    finally:
        await store.close()


def _float32(vector: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))
