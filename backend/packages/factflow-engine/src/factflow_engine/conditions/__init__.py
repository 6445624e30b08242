"""Conditions: the operator set, evaluation against a payload, and validation (docs/reference/pipeline-yaml.md)."""

from __future__ import annotations

# The config package must finish importing before this package's modules: its validator
# imports `conditions._validate`, which in turn needs `config._issues` (see config/__init__).
import factflow_engine.config  # noqa: F401

from ._evaluate import evaluate_condition
from ._operators import ConditionOperator, OperatorRegistry, ValueProblem
from ._paths import parse_field_path, resolve_field
from ._validate import validate_condition

__all__ = (
    # evaluation
    "evaluate_condition",
    # validation
    "validate_condition",
    "ValueProblem",
    # operators
    "ConditionOperator",
    "OperatorRegistry",
    # field paths
    "parse_field_path",
    "resolve_field",
)
