from __future__ import annotations

import math

from factflow_embeddings import HashingOptions, HashingProvider, hashing_vector


def _cosine(left: list[float], right: list[float]) -> float:
    return sum(a * b for a, b in zip(left, right, strict=True))


def test_vectors_are_deterministic_and_normalised() -> None:
    text = "The cat sits on the mat."
    first = hashing_vector(text, dimensions=64)
    assert first == hashing_vector(text, dimensions=64)
    assert len(first) == 64
    assert math.isclose(math.sqrt(sum(value * value for value in first)), 1.0, rel_tol=1e-9)
    # Case and punctuation do not matter; words do.
    assert first == hashing_vector("the CAT sits on the mat", dimensions=64)
    assert first != hashing_vector("The dog sits on the mat.", dimensions=64)


def test_pinned_values_do_not_drift_across_versions() -> None:
    # Stored vectors must stay comparable with vectors computed by a later release.
    vector = hashing_vector("alpha beta gamma delta", dimensions=16, ngram=1)
    nonzero = {index: round(value, 6) for index, value in enumerate(vector) if value}
    assert nonzero == {12: -0.707107, 14: -0.707107}


def test_texts_sharing_words_are_closer() -> None:
    base = hashing_vector("pipelines move data between queues", dimensions=256)
    near = hashing_vector("pipelines move data", dimensions=256)
    far = hashing_vector("a recipe for lemon cake", dimensions=256)
    assert _cosine(base, near) > 0.5 > _cosine(base, far)


def test_empty_text_is_the_zero_vector() -> None:
    assert hashing_vector("  ...  ", dimensions=16) == [0.0] * 16


async def test_provider_names_its_model_after_its_options() -> None:
    provider = HashingProvider(HashingOptions(dimensions=32, ngram=1))
    assert provider.model == "factflow-hashing-v1-32-n1"
    vectors = await provider.embed(["a b", "c"])
    assert [len(vector) for vector in vectors] == [32, 32]
