"""Adapters that read sitemaps and fetch web pages.

Registered through the `factflow.adapters` entry points: `sitemap_parser`, `url_expander`,
`web_scraper`, `web_content_storage`. Depends only on factflow-protocols.
"""

from __future__ import annotations

from .content_storage import WebContentStorageAdapter
from .expander import UrlExpanderAdapter
from .scraper import WebScraperAdapter, WebScraperConfig
from .sitemap import SitemapParserAdapter, SitemapParserConfig

__all__ = (
    "SitemapParserAdapter",
    "SitemapParserConfig",
    "UrlExpanderAdapter",
    "WebScraperAdapter",
    "WebScraperConfig",
    "WebContentStorageAdapter",
)
