"""`url_expander`: fan a list of URLs out into one message per URL."""

from __future__ import annotations

from typing import Any, ClassVar

from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

__all__ = ("UrlExpanderAdapter",)


class UrlExpanderAdapter(PipelineAdapter):
    """Emits `{url, sitemap_url, index}` for every entry of the input's `urls` list.

    The rest of the chain then runs once per URL. An empty list emits nothing.
    """

    adapter_type: ClassVar[str] = "url_expander"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        urls = context.message.get("urls")
        if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
            raise NonRetryableError("`url_expander` needs a list of strings at `urls`.")
        sitemap_url = context.message.get("sitemap_url")
        emitted: list[dict[str, Any]] = [
            {"url": url, "sitemap_url": sitemap_url, "index": index} for index, url in enumerate(urls)
        ]
        return AdapterResult(emitted=emitted)
