from __future__ import annotations

import pytest
from pydantic import ValidationError

from factflow_markdown import (
    HtmlToMarkdownAdapter,
    HtmlToMarkdownConfig,
    MarkdownStorageWriterAdapter,
    SegmentPublisherAdapter,
    SmartSegmenterAdapter,
    SmartSegmenterConfig,
    segment_markdown,
)
from factflow_protocols import NonRetryableError, PipelineContext

PAGE = """<html><head><title>Guide</title><script>var x = 1;</script></head>
<body><h1>Intro</h1><p>Hello <b>world</b>.</p><img src="a.png" alt="pic"><h2>Usage</h2><p>Run it.</p></body></html>"""


async def test_html_becomes_markdown_without_scripts_or_images() -> None:
    result = await HtmlToMarkdownAdapter().process(
        PipelineContext(message={"html": PAGE, "url": "http://x/a"}, correlation_id="m")
    )
    assert result is not None and result.message is not None
    doc = result.message
    assert "html" not in doc
    assert doc["markdown"].splitlines()[0] == "# Intro"
    assert "Hello **world**." in doc["markdown"]
    assert "var x" not in doc["markdown"] and "a.png" not in doc["markdown"]
    assert doc["title"] == "Guide"
    assert doc["document_id"].startswith("doc_")
    assert doc["token_count"] == len(doc["markdown"].split())


async def test_document_id_is_stable_per_url_and_images_can_be_kept() -> None:
    adapter = HtmlToMarkdownAdapter(HtmlToMarkdownConfig(preserve_images=True, max_tokens=3))
    first = await adapter.process(PipelineContext(message={"html": PAGE, "url": "http://x/a"}, correlation_id="m1"))
    second = await adapter.process(PipelineContext(message={"html": PAGE, "url": "http://x/a"}, correlation_id="m2"))
    assert first is not None and first.message is not None and second is not None and second.message is not None
    assert first.message["document_id"] == second.message["document_id"]
    assert first.message["token_count"] == 3
    with pytest.raises(NonRetryableError):
        await adapter.process(PipelineContext(message={"url": "u"}, correlation_id="m"))


def test_segments_start_at_headings_and_respect_max_tokens() -> None:
    markdown = "# One\n\n" + "a " * 7 + "\n\n# Two\n\nb b\n\nc"
    segments = segment_markdown(markdown, max_tokens=5)
    assert [segment["heading"] for segment in segments] == ["One", "One", "Two"]
    assert all(segment["token_count"] <= 5 for segment in segments)
    assert [segment["index"] for segment in segments] == [0, 1, 2]
    assert " ".join(s["text"] for s in segments).split() == markdown.split()


def test_small_segments_merge_and_bounds_are_checked() -> None:
    segments = segment_markdown("# A\n\nx\n\n# B\n\ny", max_tokens=10, min_tokens=5)
    assert len(segments) == 1
    with pytest.raises(ValidationError, match="'min_tokens' must not exceed 'max_tokens'"):
        SmartSegmenterConfig(max_tokens=5, min_tokens=6)


async def test_segmenter_publisher_and_writer_chain() -> None:
    segmented = await SmartSegmenterAdapter(SmartSegmenterConfig(max_tokens=50)).process(
        PipelineContext(
            message={"markdown": "# T\n\nbody", "document_id": "d", "url": "u", "title": "t"}, correlation_id="m"
        )
    )
    assert segmented is not None and segmented.message is not None
    assert segmented.message["segment_count"] == 1
    published = await SegmentPublisherAdapter().process(PipelineContext(message=segmented.message, correlation_id="m"))
    assert published is not None and len(published.emitted) == 1
    child = published.emitted[0]
    assert child["document_id"] == "d" and child["segment"]["text"] == "# T\n\nbody"
    written = await MarkdownStorageWriterAdapter().process(PipelineContext(message=child, correlation_id="c"))
    assert written is not None and written.message is not None and written.message["markdown_key"] is None
