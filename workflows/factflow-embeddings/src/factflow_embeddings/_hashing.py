"""`hashing`: feature hashing of words and word n-grams, deterministic and dependency-free."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from ._config import HashingOptions
from ._provider import EmbeddingProvider

__all__ = ("HashingProvider", "hashing_vector")

_WORD = re.compile(r"\w+", re.UNICODE)


def hashing_vector(text: str, *, dimensions: int, ngram: int = 2) -> list[float]:
    """The L2-normalised hashed bag of words and n-grams of `text` (all zeros for a text without words).

    Each feature lands in one of `dimensions` buckets with a sign, both taken from its BLAKE2b
    digest, so colliding features tend to cancel rather than pile up. Counts are damped
    (`1 + log(count)`). Equal texts give equal vectors on every machine and Python version.
    """
    words = [word.casefold() for word in _WORD.findall(text)]
    counts: dict[str, int] = {}
    for size in range(1, ngram + 1):
        for start in range(len(words) - size + 1):
            feature = " ".join(words[start : start + size])
            counts[feature] = counts.get(feature, 0) + 1
    vector = [0.0] * dimensions
    for feature, count in counts.items():
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        bucket = int.from_bytes(digest[:7], "big") % dimensions
        sign = 1.0 if digest[7] & 1 else -1.0
        vector[bucket] += sign * (1.0 + math.log(count))
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector


class HashingProvider(EmbeddingProvider):
    """Lexical vectors: texts sharing words are close; synonyms are not. A baseline, not semantics."""

    def __init__(self, options: HashingOptions | None = None) -> None:
        self.options = options or HashingOptions()
        self.model = f"factflow-hashing-v1-{self.options.dimensions}-n{self.options.ngram}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [hashing_vector(text, dimensions=self.options.dimensions, ngram=self.options.ngram) for text in texts]
