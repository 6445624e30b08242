"""The public surface of `factflow_engine.conditions` is pinned."""

from __future__ import annotations

import factflow_engine.conditions


def test_public_surface_is_pinned() -> None:
    assert factflow_engine.conditions.__all__ == (
        "evaluate_condition",
        "validate_condition",
        "ValueProblem",
        "ConditionOperator",
        "OperatorRegistry",
        "parse_field_path",
        "resolve_field",
    )
    for name in factflow_engine.conditions.__all__:
        assert getattr(factflow_engine.conditions, name) is not None
