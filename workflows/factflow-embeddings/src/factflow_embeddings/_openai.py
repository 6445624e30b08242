"""`openai`: any server speaking OpenAI's `POST /v1/embeddings` (OpenAI, Azure OpenAI, Ollama, vLLM, TEI, LiteLLM)."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import httpx

from factflow_protocols import NonRetryableError

from ._config import OpenAIOptions
from ._provider import EmbeddingProvider
from .errors import EmbeddingServiceError

__all__ = ("DEFAULT_OPENAI_BASE_URL", "OpenAIProvider", "retry_after_seconds")

logger = logging.getLogger(__name__)

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


class OpenAIProvider(EmbeddingProvider):
    """Embeds through an OpenAI-compatible HTTP API, one request per batch of texts.

    429 and 5xx answers and network errors are retried up to `max_retries` times, waiting what
    `Retry-After` says or an exponential backoff; after that the call fails retryably and the
    route's own retry policy takes over. Other 4xx answers (a bad key, an unknown model, a text
    the model refuses) fail without retry.
    """

    def __init__(self, options: OpenAIOptions, *, base_url: str, api_key: str | None) -> None:
        self.options = options
        self.model = options.model
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers: dict[str, str] = {}
        if api_key:
            if options.api_key_header == "api-key":
                self._headers["api-key"] = api_key
            else:
                self._headers["Authorization"] = f"Bearer {api_key}"
        self._client: httpx.AsyncClient | None = None
        self.requests = 0
        """HTTP requests sent, retries included."""

    def __repr__(self) -> str:
        return f"OpenAIProvider(url={self._url!r}, model={self.model!r})"  # never the key

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(headers=self._headers, timeout=self.options.timeout_seconds)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _body(self, texts: Sequence[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.options.model, "input": list(texts), "encoding_format": "float"}
        if self.options.dimensions is not None:
            body["dimensions"] = self.options.dimensions
        return body

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        await self.start()
        assert self._client is not None
        body = self._body(texts)
        attempt = 0
        while True:
            problem: str
            wait: float | None = None
            try:
                async with asyncio.timeout(self.options.timeout_seconds):
                    self.requests += 1
                    response = await self._client.post(self._url, json=body)
            except (httpx.TransportError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return _vectors(response, len(texts))
                detail = response.text[:300]
                if response.status_code != 429 and response.status_code < 500:
                    raise NonRetryableError(
                        f"the embeddings server at {self._url!r} answered {response.status_code}: {detail}"
                    )
                problem = f"HTTP {response.status_code}: {detail}"
                wait = retry_after_seconds(response.headers.get("retry-after"))
            if attempt >= self.options.max_retries:
                raise EmbeddingServiceError(
                    f"the embeddings server at {self._url!r} failed {attempt + 1} times; last: {problem}"
                )
            if wait is None:
                wait = self.options.retry_backoff_seconds * 2**attempt
            wait = min(wait, self.options.max_retry_wait_seconds)
            attempt += 1
            logger.warning("Embeddings request failed (%s); retry %d in %.2f s", problem, attempt, wait)
            await asyncio.sleep(wait)


def _vectors(response: httpx.Response, expected: int) -> list[list[float]]:
    try:
        data = response.json()["data"]
        ordered = sorted(data, key=lambda item: item["index"])
        vectors = [[float(value) for value in item["embedding"]] for item in ordered]
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbeddingServiceError(f"unreadable embeddings response: {exc}") from exc
    if len(vectors) != expected:
        raise EmbeddingServiceError(f"the server returned {len(vectors)} vectors for {expected} texts")
    return vectors
