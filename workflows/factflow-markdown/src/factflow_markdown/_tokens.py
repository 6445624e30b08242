"""Token counting shared by the markdown adapters.

A token is a whitespace-separated word: cheap, deterministic and independent of any model's
vocabulary, which keeps segment boundaries stable across runs.
"""

from __future__ import annotations

__all__ = ("count_tokens",)


def count_tokens(text: str) -> int:
    """Number of whitespace-separated words in `text`."""
    return len(text.split())
