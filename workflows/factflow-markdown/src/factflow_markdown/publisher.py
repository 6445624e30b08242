"""`segment_publisher`: fan a document's segments out into one message per segment."""

from __future__ import annotations

from typing import Any, ClassVar

from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

__all__ = ("SegmentPublisherAdapter",)

_CARRIED_FIELDS = ("document_id", "url", "title")


class SegmentPublisherAdapter(PipelineAdapter):
    """Emits `{document_id, url, title, segment, segment_count}` for each entry of `segments`.

    The rest of the chain runs once per segment; a document without segments emits nothing.
    """

    adapter_type: ClassVar[str] = "segment_publisher"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        segments = context.message.get("segments")
        if not isinstance(segments, list) or not all(isinstance(item, dict) for item in segments):
            raise NonRetryableError("`segment_publisher` needs a list of segment mappings at `segments`.")
        carried = {field: context.message.get(field) for field in _CARRIED_FIELDS}
        emitted: list[dict[str, Any]] = [
            {**carried, "segment": segment, "segment_count": len(segments)} for segment in segments
        ]
        return AdapterResult(emitted=emitted)
