"""The HTTP client shared by the web adapters, and how HTTP failures map to adapter errors."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from factflow_protocols import NonRetryableError

__all__ = ("USER_AGENT", "FetchedPage", "fetch", "new_client")

USER_AGENT = "factflow-webscraper/0.1 (+https://github.com/factflow)"

# Statuses that a retry can fix; every other 4xx means the request itself is wrong.
_RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})


def new_client(*, timeout: float, follow_redirects: bool, user_agent: str = USER_AGENT) -> httpx.AsyncClient:
    """An `AsyncClient` for one adapter instance (opened in `start()`, closed in `stop()`)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=follow_redirects,
        headers={"User-Agent": user_agent},
    )


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A fetched body with the facts of its answer."""

    final_url: str
    status_code: int
    content_type: str
    content: bytes
    encoding: str

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")


async def fetch(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> FetchedPage:
    """GET `url`, refusing bodies over `max_bytes`.

    Raises:
        NonRetryableError: a client error (4xx other than 408/425/429), an invalid URL or an
            oversized body — retrying cannot help.
        httpx.HTTPError: network failures and 5xx answers, which are retryable.
    """
    try:
        request = client.build_request("GET", url)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise NonRetryableError(f"Cannot fetch {url!r}: {exc}") from exc
    try:
        response = await client.send(request, stream=True)
    except httpx.UnsupportedProtocol as exc:
        raise NonRetryableError(f"Cannot fetch {url!r}: {exc}") from exc
    try:
        if 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_CLIENT_STATUSES:
            raise NonRetryableError(f"GET {url!r} answered {response.status_code} {response.reason_phrase}.")
        response.raise_for_status()
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > max_bytes:
                raise NonRetryableError(f"GET {url!r} returned more than {max_bytes} bytes.")
        return FetchedPage(
            final_url=str(response.url),
            status_code=response.status_code,
            content_type=response.headers.get("content-type", "application/octet-stream"),
            content=bytes(body),
            encoding=response.charset_encoding or "utf-8",
        )
    finally:
        await response.aclose()
