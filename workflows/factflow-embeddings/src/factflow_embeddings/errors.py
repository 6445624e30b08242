"""Errors of the embeddings workflow."""

from __future__ import annotations

from factflow_foundation import FactflowError

__all__ = ("EmbeddingServiceError",)


class EmbeddingServiceError(FactflowError):
    """A provider could not produce vectors this time.

    Retryable: the route's `error_handling` retries the message. Input that can never succeed
    raises `NonRetryableError` instead.
    """

    default_code = "embedding_service_error"
