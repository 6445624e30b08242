"""`smart_segmenter`: split markdown into segments along headings and paragraphs."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

from ._tokens import count_tokens

__all__ = ("SmartSegmenterAdapter", "SmartSegmenterConfig", "segment_markdown")


class SmartSegmenterConfig(BaseModel):
    """Options of `smart_segmenter`."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(default=512, ge=1, le=100_000)
    """Largest segment, in tokens (words)."""
    min_tokens: int = Field(default=0, ge=0, le=100_000)
    """Segments smaller than this are merged into the previous one when it has room."""

    @model_validator(mode="after")
    def _bounds(self) -> SmartSegmenterConfig:
        if self.min_tokens > self.max_tokens:
            raise ValueError("'min_tokens' must not exceed 'max_tokens'")
        return self


def _blocks(markdown: str) -> list[tuple[str | None, str]]:
    """Paragraph blocks, each with the heading it sits under."""
    heading: str | None = None
    blocks: list[tuple[str | None, str]] = []
    for block in (part.strip() for part in markdown.split("\n\n")):
        if not block:
            continue
        if block.startswith("#"):
            heading = block.lstrip("#").strip() or heading
        blocks.append((heading, block))
    return blocks


def segment_markdown(markdown: str, *, max_tokens: int, min_tokens: int = 0) -> list[dict[str, Any]]:
    """Pack paragraphs into segments of at most `max_tokens`, starting a new one at each heading."""
    segments: list[dict[str, Any]] = []
    current: list[str] = []
    current_heading: str | None = None
    current_tokens = 0

    def close() -> None:
        nonlocal current, current_tokens
        if current:
            segments.append({"heading": current_heading, "text": "\n\n".join(current), "token_count": current_tokens})
        current, current_tokens = [], 0

    for heading, block in _blocks(markdown):
        if block.startswith("#"):
            close()
        current_heading = heading
        tokens = count_tokens(block)
        if tokens <= max_tokens:
            if current_tokens + tokens > max_tokens:
                close()
            current.append(block)
            current_tokens += tokens
            continue
        # A paragraph longer than a segment fills the current segment, then continues in new ones.
        words = block.split()
        while words:
            room = max_tokens - current_tokens
            if room <= 0:
                close()
                room = max_tokens
            piece, words = words[:room], words[room:]
            current.append(" ".join(piece))
            current_tokens += len(piece)
    close()
    merged: list[dict[str, Any]] = []
    for segment in segments:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and segment["token_count"] < min_tokens
            and previous["token_count"] + segment["token_count"] <= max_tokens
        ):
            previous["text"] += "\n\n" + segment["text"]
            previous["token_count"] += segment["token_count"]
        else:
            merged.append(segment)
    return [{"index": index, **segment} for index, segment in enumerate(merged)]


class SmartSegmenterAdapter(PipelineAdapter):
    """Adds `segments` (`[{index, heading, text, token_count}]`) and `segment_count` to the input.

    A heading always starts a new segment; paragraphs are packed up to `max_tokens`, and a
    paragraph longer than that is cut at word boundaries.
    """

    adapter_type: ClassVar[str] = "smart_segmenter"
    config_model: ClassVar[type[BaseModel] | None] = SmartSegmenterConfig

    def __init__(self, config: BaseModel | None = None) -> None:
        super().__init__(config or SmartSegmenterConfig())
        assert isinstance(self.config, SmartSegmenterConfig)
        self.options: SmartSegmenterConfig = self.config

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        markdown = context.message.get("markdown")
        if not isinstance(markdown, str):
            raise NonRetryableError("`smart_segmenter` needs a `markdown` string in the payload.")
        segments = segment_markdown(markdown, max_tokens=self.options.max_tokens, min_tokens=self.options.min_tokens)
        return AdapterResult(message={**context.message, "segments": segments, "segment_count": len(segments)})
