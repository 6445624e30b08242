"""`python -m factflow_embeddings`: list and search the embedded vector store from a shell."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ._config import EmbeddingGeneratorConfig
from ._factory import build_provider
from ._sqlite_store import SqliteVectorStore
from .writer import sqlite_store_path

__all__ = ("main",)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m factflow_embeddings", description="Read the embedded vector store of `vector_writer`."
    )
    parser.add_argument("--path", help="SQLite file (default: vectors.sqlite under FACTFLOW_DATA_DIR)")
    parser.add_argument("--table", default="factflow_vectors")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="stored vectors (without the numbers), oldest first")
    listing.add_argument("--collection")
    listing.add_argument("--execution", help="execution id (not a tag)")
    listing.add_argument("--limit", type=int, default=1000)
    search = commands.add_parser("search", help="nearest stored vectors to a text")
    search.add_argument("text")
    search.add_argument("--collection", default="default")
    search.add_argument("--limit", type=int, default=5)
    search.add_argument(
        "--embedder", default="{}", help="`embedding_generator` config as JSON, the same as the pipeline's"
    )
    return parser


async def _run(arguments: argparse.Namespace) -> dict[str, Any]:
    store = SqliteVectorStore(sqlite_store_path(arguments.path), table=arguments.table)
    try:
        if arguments.command == "list":
            rows = await store.list_vectors(
                collection=arguments.collection, execution_id=arguments.execution, limit=arguments.limit
            )
            return {"total": len(rows), "vectors": rows}
        provider = build_provider(EmbeddingGeneratorConfig.model_validate(json.loads(arguments.embedder)))
        await provider.start()
        try:
            (vector,) = await provider.embed([arguments.text])
        finally:
            await provider.close()
        hits = await store.search(vector, collection=arguments.collection, model=provider.model, limit=arguments.limit)
        return {"model": provider.model, "hits": [asdict(hit) for hit in hits]}
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Print the answer as JSON; exit 0, or 2 on a usage error."""
    arguments = _parser().parse_args(argv)
    answer = asyncio.run(_run(arguments))
    json.dump(answer, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0
