"""`sitemap_parser`: read a sitemap (or sitemap index) and list its page URLs."""

from __future__ import annotations

from typing import ClassVar
from xml.etree.ElementTree import Element

import httpx
from defusedxml import ElementTree
from pydantic import BaseModel, ConfigDict, Field

from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

from ._http import fetch, new_client

__all__ = ("SitemapParserAdapter", "SitemapParserConfig")

_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class SitemapParserConfig(BaseModel):
    """Options of `sitemap_parser`."""

    model_config = ConfigDict(extra="forbid")

    max_urls: int = Field(default=1000, ge=1, le=100_000)
    """Stop after this many page URLs."""
    timeout: float = Field(default=30, gt=0, le=600)
    """Seconds allowed for each HTTP request."""
    follow_redirects: bool = True
    """Follow HTTP redirects."""
    max_sitemaps: int = Field(default=50, ge=1, le=1000)
    """Most sitemap documents read when the input is a sitemap index."""
    max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    """Largest sitemap document accepted."""


def _text_of(element: Element, tag: str) -> list[str]:
    return [(node.text or "").strip() for node in element.iter(f"{_NS}{tag}") if (node.text or "").strip()]


class SitemapParserAdapter(PipelineAdapter):
    """Reads the sitemap at `sitemap_url` and outputs `{sitemap_url, urls, url_count}`.

    A sitemap index is followed into its child sitemaps. URLs keep document order and
    duplicates are dropped, so the output is deterministic.
    """

    adapter_type: ClassVar[str] = "sitemap_parser"
    config_model: ClassVar[type[BaseModel] | None] = SitemapParserConfig

    def __init__(self, config: BaseModel | None = None) -> None:
        super().__init__(config or SitemapParserConfig())
        assert isinstance(self.config, SitemapParserConfig)
        self.options: SitemapParserConfig = self.config
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = new_client(timeout=self.options.timeout, follow_redirects=self.options.follow_redirects)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        sitemap_url = context.message.get("sitemap_url")
        if not isinstance(sitemap_url, str) or not sitemap_url:
            raise NonRetryableError("`sitemap_parser` needs a string `sitemap_url` in the payload.")
        client = self._client or new_client(timeout=self.options.timeout, follow_redirects=True)
        try:
            urls = await self._collect(client, sitemap_url)
        finally:
            if client is not self._client:
                await client.aclose()
        return AdapterResult(message={**context.message, "urls": urls, "url_count": len(urls)})

    async def _collect(self, client: httpx.AsyncClient, sitemap_url: str) -> list[str]:
        pending, seen_sitemaps, urls = [sitemap_url], set[str](), dict[str, None]()
        while pending and len(urls) < self.options.max_urls and len(seen_sitemaps) < self.options.max_sitemaps:
            current = pending.pop(0)
            if current in seen_sitemaps:
                continue
            seen_sitemaps.add(current)
            page = await fetch(client, current, max_bytes=self.options.max_bytes)
            try:
                root = ElementTree.fromstring(page.content)
            except ElementTree.ParseError as exc:
                raise NonRetryableError(f"{current!r} is not a valid sitemap: {exc}") from exc
            if root.tag == f"{_NS}sitemapindex":
                pending.extend(_text_of(root, "loc"))
                continue
            for loc in _text_of(root, "loc"):
                urls.setdefault(loc)
                if len(urls) >= self.options.max_urls:
                    break
        return list(urls)
