"""`web_content_storage`: keep each fetched page's HTML as an artefact."""

from __future__ import annotations

from typing import ClassVar

from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

__all__ = ("WebContentStorageAdapter",)


class WebContentStorageAdapter(PipelineAdapter):
    """Writes the input's `html` to the artefact `page.html` and adds its key as `content_key`.

    The message passes on otherwise unchanged, so downstream routes still see the HTML. Writing
    the same key again on a redelivery overwrites it, which keeps the adapter idempotent.
    Without storage (adapter tests), the message passes through with `content_key: null`.
    """

    adapter_type: ClassVar[str] = "web_content_storage"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        html = context.message.get("html")
        if not isinstance(html, str):
            raise NonRetryableError("`web_content_storage` needs the page's `html` string in the payload.")
        content_key = None
        if context.storage is not None:
            content_key = context.paths.artefact_key("page.html")
            await context.storage.write(
                content_key,
                html.encode("utf-8"),
                {
                    "kind": "artefact",
                    "execution_id": context.execution_id,
                    "route_id": context.route_id,
                    "stage": context.stage_name,
                    "correlation_id": context.correlation_id,
                    "url": context.message.get("url"),
                },
                content_type="text/html; charset=utf-8",
            )
        return AdapterResult(message={**context.message, "content_key": content_key})
