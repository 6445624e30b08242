"""The embedded store: one SQLite file with sqlite-vec for distances, through apsw (extension loading everywhere)."""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._store import SearchHit, VectorRecord

__all__ = ("SqliteVectorStore", "pack_vector", "unpack_vector")


def pack_vector(vector: Sequence[float]) -> bytes:
    """The float32 blob sqlite-vec reads."""
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack_vector(blob: bytes) -> list[float]:
    """The inverse of `pack_vector`."""
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


_COLUMNS = (
    "collection TEXT NOT NULL, message_id TEXT NOT NULL, execution_id TEXT, model TEXT, "
    "dimensions INTEGER NOT NULL, text_hash TEXT, embedding BLOB NOT NULL, metadata TEXT NOT NULL, "
    "text TEXT, write_count INTEGER NOT NULL DEFAULT 1, "
    "updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), "
    "PRIMARY KEY (collection, message_id)"
)


class SqliteVectorStore:
    """Vectors in a table of a SQLite file; searches rank by sqlite-vec's `vec_distance_cosine`.

    Writes from several processes or executions to one file are safe (WAL, busy timeout); a
    search is exact (every row of the collection and model is compared), which suits up to a
    few hundred thousand vectors.
    """

    def __init__(self, path: Path, *, table: str = "factflow_vectors") -> None:
        self.path = path
        self.table = table
        self._connection: Any = None
        self._lock = threading.Lock()

    def _open(self) -> None:
        import apsw
        import sqlite_vec

        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = apsw.Connection(str(self.path))
        connection.set_busy_timeout(30_000)
        connection.enable_load_extension(True)
        connection.load_extension(sqlite_vec.loadable_path())
        connection.enable_load_extension(False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"CREATE TABLE IF NOT EXISTS {self.table} ({_COLUMNS})")
        connection.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_execution ON {self.table} (execution_id)")
        self._connection = connection

    async def open(self) -> None:
        if self._connection is None:
            await asyncio.to_thread(self._locked, self._open)

    def _locked(self, function: Any, *args: Any) -> Any:
        with self._lock:
            return function(*args)

    def _upsert(self, records: Sequence[VectorRecord]) -> None:
        rows = [
            (
                record.collection,
                record.message_id,
                record.execution_id,
                record.model,
                record.dimensions,
                record.text_hash,
                pack_vector(record.vector),
                json.dumps(record.metadata, sort_keys=True, default=str),
                record.text,
            )
            for record in records
        ]
        with self._connection:  # one transaction
            self._connection.executemany(
                f"INSERT INTO {self.table} (collection, message_id, execution_id, model, dimensions, text_hash, "
                "embedding, metadata, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (collection, message_id) DO UPDATE SET execution_id = excluded.execution_id, "
                "model = excluded.model, dimensions = excluded.dimensions, text_hash = excluded.text_hash, "
                "embedding = excluded.embedding, metadata = excluded.metadata, text = excluded.text, "
                f"write_count = {self.table}.write_count + 1, "
                "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                rows,
            )

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        await self.open()
        await asyncio.to_thread(self._locked, self._upsert, list(records))

    def _rows(self, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return list(self._connection.execute(sql, parameters))

    async def list_vectors(
        self, *, collection: str | None = None, execution_id: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Stored rows (without vectors), oldest first, optionally of one collection or execution."""
        await self.open()
        sql = (
            f"SELECT collection, message_id, execution_id, model, dimensions, text_hash, metadata, text, "
            f"write_count, updated_at FROM {self.table} WHERE (?1 IS NULL OR collection = ?1) "
            "AND (?2 IS NULL OR execution_id = ?2) ORDER BY updated_at, message_id LIMIT ?3"
        )
        rows = await asyncio.to_thread(self._locked, self._rows, sql, (collection, execution_id, limit))
        names = ("collection", "message_id", "execution_id", "model", "dimensions", "text_hash")
        return [
            {
                **dict(zip(names, row[:6], strict=True)),
                "metadata": json.loads(row[6]),
                "text": row[7],
                "write_count": row[8],
                "updated_at": row[9],
            }
            for row in rows
        ]

    async def vector(self, *, collection: str, message_id: str) -> list[float] | None:
        """The stored vector of one message, or None."""
        await self.open()
        sql = f"SELECT embedding FROM {self.table} WHERE collection = ? AND message_id = ?"
        rows = await asyncio.to_thread(self._locked, self._rows, sql, (collection, message_id))
        return unpack_vector(rows[0][0]) if rows else None

    async def search(
        self, vector: Sequence[float], *, collection: str, model: str | None = None, limit: int = 10
    ) -> list[SearchHit]:
        """The `limit` nearest vectors of the collection (and model) by cosine distance."""
        await self.open()
        sql = (
            f"SELECT message_id, vec_distance_cosine(embedding, ?1) AS distance, model, execution_id, metadata, text "
            f"FROM {self.table} WHERE collection = ?2 AND dimensions = ?3 AND (?4 IS NULL OR model = ?4) "
            "ORDER BY distance, message_id LIMIT ?5"
        )
        parameters = (pack_vector(vector), collection, len(vector), model, limit)
        rows = await asyncio.to_thread(self._locked, self._rows, sql, parameters)
        return [SearchHit(row[0], float(row[1]), row[2], row[3], json.loads(row[4]), row[5]) for row in rows]

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.to_thread(self._locked, connection.close)
