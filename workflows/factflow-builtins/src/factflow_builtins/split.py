"""`split`: one message per element of a list in the payload."""

from __future__ import annotations

import copy

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from factflow_engine.conditions import resolve_field
from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

from ._fields import DottedPath, segments_of, set_path, typed_config

__all__ = ("SplitAdapter", "SplitConfig")


class SplitConfig(BaseModel):
    """Options of the `split` adapter."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    field: DottedPath
    """Dotted path of the list to split (`items`, `page.links`)."""
    item_field: StrictStr = Field(default="item", min_length=1)
    """Key each element is put under in its message."""
    keep_fields: list[DottedPath] = Field(default_factory=list)
    """Dotted paths copied from the input into every message, each at the same path."""

    @model_validator(mode="after")
    def _keep_fields_leave_the_item_alone(self) -> SplitConfig:
        for path in self.keep_fields:
            if segments_of(path)[0] == self.item_field:
                raise ValueError(f"'keep_fields' entry {path!r} would overwrite 'item_field' {self.item_field!r}")
        return self


class SplitAdapter(PipelineAdapter):
    """Emits one message per element of a list: `{item_field: element}` plus the kept fields.

    An empty list emits nothing. A missing field or a value that is not a list is a
    non-retryable error, so the message is dead-lettered with a message naming the field.
    """

    adapter_type = "split"
    config_model = SplitConfig

    def __init__(self, config: BaseModel | None = None) -> None:
        super().__init__(config)
        self.options = typed_config(config, SplitConfig)
        self._segments = segments_of(self.options.field)
        self._keep = [segments_of(path) for path in self.options.keep_fields]

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        field = self.options.field
        present, value = resolve_field(context.message, self._segments)
        if not present:
            raise NonRetryableError(f"`split` found no field {field!r} in the payload.", code="split_field_missing")
        if not isinstance(value, list):
            raise NonRetryableError(
                f"`split` needs a list at {field!r}, got {type(value).__name__}.", code="split_field_not_a_list"
            )
        if not value:
            return None
        kept = []
        for segments in self._keep:
            found, kept_value = resolve_field(context.message, segments)
            if found:
                kept.append((segments, kept_value))
        emitted = []
        for element in value:
            child = {self.options.item_field: element}
            for segments, kept_value in kept:
                # Every child gets its own copy: later adapters may change their payload in place.
                set_path(child, segments, copy.deepcopy(kept_value))
            emitted.append(child)
        return AdapterResult(emitted=emitted)
