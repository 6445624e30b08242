from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from factflow_protocols import NonRetryableError, PipelineContext
from factflow_webscraper import (
    SitemapParserAdapter,
    SitemapParserConfig,
    UrlExpanderAdapter,
    WebContentStorageAdapter,
    WebScraperAdapter,
    WebScraperConfig,
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """A local website standing in for the remote one."""
    (tmp_path / "a.html").write_text("<html><title>Page  A</title><h1>A</h1></html>")
    (tmp_path / "b.html").write_text("<html><title>B</title><p>b</p></html>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urlset = "".join(f"<url><loc>{base}/{name}</loc></url>" for name in ("a.html", "b.html", "a.html"))
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    (tmp_path / "sitemap.xml").write_text(f"<urlset {ns}>{urlset}</urlset>")
    (tmp_path / "index.xml").write_text(
        f"<sitemapindex {ns}><sitemap><loc>{base}/sitemap.xml</loc></sitemap></sitemapindex>"
    )
    (tmp_path / "broken.xml").write_text("<urlset")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


async def test_sitemap_parser_lists_unique_urls_in_order(site: str) -> None:
    adapter = SitemapParserAdapter(SitemapParserConfig())
    await adapter.start()
    try:
        result = await adapter.process(
            PipelineContext(message={"sitemap_url": f"{site}/sitemap.xml"}, correlation_id="m")
        )
    finally:
        await adapter.stop()
    assert result is not None and result.message is not None
    assert result.message["urls"] == [f"{site}/a.html", f"{site}/b.html"]
    assert result.message["url_count"] == 2


async def test_sitemap_index_is_followed_and_max_urls_applies(site: str) -> None:
    adapter = SitemapParserAdapter(SitemapParserConfig(max_urls=1))
    result = await adapter.process(PipelineContext(message={"sitemap_url": f"{site}/index.xml"}, correlation_id="m"))
    assert result is not None and result.message is not None
    assert result.message["urls"] == [f"{site}/a.html"]


@pytest.mark.parametrize("path", ["missing.xml", "broken.xml"])
async def test_missing_or_broken_sitemap_is_not_retryable(site: str, path: str) -> None:
    with pytest.raises(NonRetryableError):
        await SitemapParserAdapter().process(
            PipelineContext(message={"sitemap_url": f"{site}/{path}"}, correlation_id="m")
        )


async def test_url_expander_emits_one_message_per_url() -> None:
    result = await UrlExpanderAdapter().process(
        PipelineContext(message={"urls": ["u1", "u2"], "sitemap_url": "s"}, correlation_id="m")
    )
    assert result is not None
    assert result.emitted == [
        {"url": "u1", "sitemap_url": "s", "index": 0},
        {"url": "u2", "sitemap_url": "s", "index": 1},
    ]
    with pytest.raises(NonRetryableError):
        await UrlExpanderAdapter().process(PipelineContext(message={"urls": "u1"}, correlation_id="m"))


async def test_web_scraper_fetches_html_and_title(site: str) -> None:
    adapter = WebScraperAdapter(WebScraperConfig(timeout=5))
    await adapter.start()
    try:
        result = await adapter.process(
            PipelineContext(message={"url": f"{site}/a.html", "index": 0}, correlation_id="m")
        )
    finally:
        await adapter.stop()
    assert result is not None and result.message is not None
    page = result.message
    assert page["status_code"] == 200
    assert page["title"] == "Page A"
    assert "<h1>A</h1>" in page["html"]
    assert page["content_type"].startswith("text/html")
    assert page["index"] == 0


async def test_web_scraper_does_not_retry_a_404_but_does_retry_network_errors(site: str) -> None:
    with pytest.raises(NonRetryableError, match="404"):
        await WebScraperAdapter().process(PipelineContext(message={"url": f"{site}/nope.html"}, correlation_id="m"))
    with pytest.raises(Exception) as caught:
        await WebScraperAdapter(WebScraperConfig(timeout=2)).process(
            PipelineContext(message={"url": "http://127.0.0.1:9/"}, correlation_id="m")
        )
    assert not isinstance(caught.value, NonRetryableError)


async def test_web_content_storage_passes_through_without_storage() -> None:
    result = await WebContentStorageAdapter().process(PipelineContext(message={"html": "<p>x</p>"}, correlation_id="m"))
    assert result is not None and result.message == {"html": "<p>x</p>", "content_key": None}
