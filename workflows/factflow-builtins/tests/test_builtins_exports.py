from __future__ import annotations

import factflow_builtins

EXPORTS = {
    "PassthroughAdapter",
    "SplitAdapter",
    "FilterAdapter",
    "SetFieldsAdapter",
    "DelayAdapter",
    "FailAdapter",
    "SplitConfig",
    "FilterConfig",
    "SetFieldsConfig",
    "DelayConfig",
    "FailConfig",
    "InducedFailureError",
}


def test_public_surface_is_pinned() -> None:
    assert set(factflow_builtins.__all__) == EXPORTS
