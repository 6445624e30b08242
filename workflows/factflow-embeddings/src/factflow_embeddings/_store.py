"""What a vector store keeps, and the contract both stores follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ("SearchHit", "VectorRecord", "VectorStore")


@dataclass(frozen=True, slots=True)
class VectorRecord:
    """One vector and what it came from. `message_id` (with the collection) is the key of the upsert."""

    message_id: str
    collection: str
    vector: list[float]
    model: str | None = None
    execution_id: str | None = None
    text_hash: str | None = None
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def dimensions(self) -> int:
        """Length of the vector."""
        return len(self.vector)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A stored vector close to a query, without its vector."""

    message_id: str
    distance: float
    """Cosine distance: 0 is the same direction, 2 the opposite."""
    model: str | None
    execution_id: str | None
    metadata: dict[str, Any]
    text: str | None


class VectorStore(Protocol):
    """Upsert-only storage of vectors: writing a record twice leaves one row holding the last write."""

    async def open(self) -> None:
        """Connect and create the table if it does not exist."""

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Insert or replace the records, keyed by `(collection, message_id)`."""

    async def close(self) -> None:
        """Disconnect; safe to call twice or before `open()`."""
