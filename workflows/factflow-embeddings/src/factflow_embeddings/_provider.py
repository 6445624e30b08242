"""The provider contract: texts in, one vector per text out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

__all__ = ("EmbeddingProvider",)


class EmbeddingProvider(ABC):
    """Computes embeddings. One instance serves one adapter entry and is called concurrently."""

    model: str
    """Name recorded with every vector."""

    async def start(self) -> None:  # noqa: B027  # optional hook, a no-op by default
        """Acquire clients or load the model."""

    async def close(self) -> None:  # noqa: B027  # optional hook, a no-op by default
        """Release what `start()` acquired; safe to call twice or without `start()`."""

    @abstractmethod
    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in the order given."""
