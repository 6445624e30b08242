"""General-purpose built-in adapters, registered through the `factflow.adapters` entry points.

`passthrough`, `split`, `filter`, `set_fields`, `delay` and `fail` (docs/reference/builtins.md).
"""

from __future__ import annotations

from .delay import DelayAdapter, DelayConfig
from .fail import FailAdapter, FailConfig, InducedFailureError
from .filter import FilterAdapter, FilterConfig
from .passthrough import PassthroughAdapter
from .set_fields import SetFieldsAdapter, SetFieldsConfig
from .split import SplitAdapter, SplitConfig

__all__ = (
    # adapters
    "PassthroughAdapter",
    "SplitAdapter",
    "FilterAdapter",
    "SetFieldsAdapter",
    "DelayAdapter",
    "FailAdapter",
    # config models
    "SplitConfig",
    "FilterConfig",
    "SetFieldsConfig",
    "DelayConfig",
    "FailConfig",
    # errors
    "InducedFailureError",
)
