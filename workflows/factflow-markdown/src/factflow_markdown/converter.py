"""`html_to_markdown`: convert a fetched page into markdown."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from bs4 import BeautifulSoup
from markdownify import markdownify
from pydantic import BaseModel, ConfigDict, Field

from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

from ._tokens import count_tokens

__all__ = ("HtmlToMarkdownAdapter", "HtmlToMarkdownConfig")

_DROPPED_TAGS = ("script", "style", "noscript", "template", "iframe", "svg")


class HtmlToMarkdownConfig(BaseModel):
    """Options of `html_to_markdown`."""

    model_config = ConfigDict(extra="forbid")

    preserve_images: bool = False
    """Keep `![alt](src)` images; by default they are dropped."""
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    """Cut the document after this many tokens (words); `null` keeps it whole."""
    heading_style: str = Field(default="ATX", pattern="^(ATX|SETEXT)$")
    """Markdown heading style: `ATX` (`# Title`) or `SETEXT` (underlined)."""


def document_id_for(url: str | None, fallback: str) -> str:
    """A stable document id: the same URL always yields the same id."""
    return "doc_" + hashlib.sha256((url or fallback).encode("utf-8")).hexdigest()[:16]


class HtmlToMarkdownAdapter(PipelineAdapter):
    """Turns the input's `html` into `markdown`.

    Output: the input without `html`, plus `markdown`, `token_count`, `document_id` (stable per
    URL) and `title` (kept from the input, else the page's `<title>`). Scripts, styles and
    similar non-content tags are removed first.
    """

    adapter_type: ClassVar[str] = "html_to_markdown"
    config_model: ClassVar[type[BaseModel] | None] = HtmlToMarkdownConfig

    def __init__(self, config: BaseModel | None = None) -> None:
        super().__init__(config or HtmlToMarkdownConfig())
        assert isinstance(self.config, HtmlToMarkdownConfig)
        self.options: HtmlToMarkdownConfig = self.config

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        html = context.message.get("html")
        if not isinstance(html, str):
            raise NonRetryableError("`html_to_markdown` needs the page's `html` string in the payload.")
        soup = BeautifulSoup(html, "html.parser")
        for tag in soup(_DROPPED_TAGS):
            tag.decompose()
        title = context.message.get("title")
        if not title and soup.title is not None and soup.title.string:
            title = " ".join(soup.title.string.split())
        if soup.title is not None:
            soup.title.decompose()  # the title is metadata, not body text
        strip = [] if self.options.preserve_images else ["img"]
        markdown = markdownify(str(soup), heading_style=self.options.heading_style, strip=strip)
        markdown = "\n\n".join(block.strip() for block in markdown.split("\n\n") if block.strip())
        if self.options.max_tokens is not None and count_tokens(markdown) > self.options.max_tokens:
            markdown = " ".join(markdown.split()[: self.options.max_tokens])
        output: dict[str, Any] = {key: value for key, value in context.message.items() if key != "html"}
        url = context.message.get("url")
        output.update(
            markdown=markdown,
            token_count=count_tokens(markdown),
            title=title,
            document_id=context.message.get("document_id")
            or document_id_for(url if isinstance(url, str) else None, context.correlation_id),
        )
        return AdapterResult(message=output)
