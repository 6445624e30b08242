"""`web_scraper`: fetch one page."""

from __future__ import annotations

import re
from html import unescape
from typing import ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext, utc_now_rfc3339

from ._http import USER_AGENT, fetch, new_client

__all__ = ("WebScraperAdapter", "WebScraperConfig")

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class WebScraperConfig(BaseModel):
    """Options of `web_scraper`."""

    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=30, gt=0, le=600)
    """Seconds allowed for the request."""
    follow_redirects: bool = True
    """Follow HTTP redirects."""
    max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=3 * 1024 * 1024)
    """Largest page accepted; bigger pages are dead-lettered (the payload limit is 4 MiB)."""
    user_agent: str = Field(default=USER_AGENT, min_length=1, max_length=300)
    """`User-Agent` header sent with the request."""


class WebScraperAdapter(PipelineAdapter):
    """Fetches the page at `url`.

    Output: the input plus `final_url`, `status_code`, `content_type`, `html`, `title` and
    `fetched_at`. 4xx answers (but 408/425/429) are not retried; network errors and 5xx are.
    """

    adapter_type: ClassVar[str] = "web_scraper"
    config_model: ClassVar[type[BaseModel] | None] = WebScraperConfig

    def __init__(self, config: BaseModel | None = None) -> None:
        super().__init__(config or WebScraperConfig())
        assert isinstance(self.config, WebScraperConfig)
        self.options: WebScraperConfig = self.config
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = new_client(
            timeout=self.options.timeout,
            follow_redirects=self.options.follow_redirects,
            user_agent=self.options.user_agent,
        )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        url = context.message.get("url")
        if not isinstance(url, str) or not url:
            raise NonRetryableError("`web_scraper` needs a string `url` in the payload.")
        client = self._client or new_client(
            timeout=self.options.timeout, follow_redirects=self.options.follow_redirects
        )
        try:
            page = await fetch(client, url, max_bytes=self.options.max_bytes)
        finally:
            if client is not self._client:
                await client.aclose()
        html = page.text
        match = _TITLE.search(html)
        title = " ".join(unescape(match.group(1)).split()) if match else None
        return AdapterResult(
            message={
                **context.message,
                "final_url": page.final_url,
                "status_code": page.status_code,
                "content_type": page.content_type,
                "html": html,
                "title": title,
                "fetched_at": utc_now_rfc3339(),
            }
        )
