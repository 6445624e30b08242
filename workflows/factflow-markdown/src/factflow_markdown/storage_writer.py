"""`markdown_storage_writer`: keep each segment's markdown as a `.md` artefact."""

from __future__ import annotations

from typing import ClassVar

from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

__all__ = ("MarkdownStorageWriterAdapter",)


class MarkdownStorageWriterAdapter(PipelineAdapter):
    """Writes the segment's text (or the whole `markdown`) to the artefact `segment.md`.

    The message passes on with `markdown_key` added. Rewriting the same key on a redelivery
    overwrites it. Without storage (adapter tests) `markdown_key` is `null`.
    """

    adapter_type: ClassVar[str] = "markdown_storage_writer"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        segment = context.message.get("segment")
        text = segment.get("text") if isinstance(segment, dict) else context.message.get("markdown")
        if not isinstance(text, str):
            raise NonRetryableError("`markdown_storage_writer` needs `segment.text` or `markdown` in the payload.")
        markdown_key = None
        if context.storage is not None:
            markdown_key = context.paths.artefact_key("segment.md")
            await context.storage.write(
                markdown_key,
                text.encode("utf-8"),
                {
                    "kind": "artefact",
                    "execution_id": context.execution_id,
                    "route_id": context.route_id,
                    "stage": context.stage_name,
                    "correlation_id": context.correlation_id,
                    "document_id": context.message.get("document_id"),
                    "url": context.message.get("url"),
                },
                content_type="text/markdown; charset=utf-8",
            )
        return AdapterResult(message={**context.message, "markdown_key": markdown_key})
