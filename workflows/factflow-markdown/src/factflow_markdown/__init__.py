"""Adapters that turn HTML into segmented markdown.

Registered through the `factflow.adapters` entry points: `html_to_markdown`, `smart_segmenter`,
`segment_publisher`, `markdown_storage_writer`. Depends only on factflow-protocols.
"""

from __future__ import annotations

from .converter import HtmlToMarkdownAdapter, HtmlToMarkdownConfig
from .publisher import SegmentPublisherAdapter
from .segmenter import SmartSegmenterAdapter, SmartSegmenterConfig, segment_markdown
from .storage_writer import MarkdownStorageWriterAdapter

__all__ = (
    "HtmlToMarkdownAdapter",
    "HtmlToMarkdownConfig",
    "SmartSegmenterAdapter",
    "SmartSegmenterConfig",
    "segment_markdown",
    "SegmentPublisherAdapter",
    "MarkdownStorageWriterAdapter",
)
