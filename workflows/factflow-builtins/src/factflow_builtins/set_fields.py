"""`set_fields`: deep-merges fixed values into the payload."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool

from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext

from ._fields import typed_config

__all__ = ("SetFieldsAdapter", "SetFieldsConfig")

_MISSING = object()


class SetFieldsConfig(BaseModel):
    """Options of the `set_fields` adapter."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    values: dict[str, Any]
    """Values to merge into the payload; nested mappings merge key by key."""
    overwrite: StrictBool = True
    """Replace values already in the payload; with `false` only missing keys are added."""


def deep_merge(base: Mapping[str, Any], values: Mapping[str, Any], *, overwrite: bool) -> dict[str, Any]:
    """`base` with `values` merged in: mappings merge, other values replace (unless `overwrite` is false).

    Neither argument is changed; merged-in values are copies.
    """
    merged = dict(base)
    for key, value in values.items():
        current = merged.get(key, _MISSING)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value, overwrite=overwrite)
        elif current is _MISSING or overwrite:
            merged[key] = copy.deepcopy(value)
    return merged


class SetFieldsAdapter(PipelineAdapter):
    """Deep-merges `values` into the payload (nested mappings merge; other values replace unless `overwrite: false`)."""

    adapter_type = "set_fields"
    config_model = SetFieldsConfig

    def __init__(self, config: BaseModel | None = None) -> None:
        super().__init__(config)
        self.options = typed_config(config, SetFieldsConfig)

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return AdapterResult(message=deep_merge(context.message, self.options.values, overwrite=self.options.overwrite))
