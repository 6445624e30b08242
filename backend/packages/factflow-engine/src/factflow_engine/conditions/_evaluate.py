"""Evaluate a condition against a payload (docs/reference/pipeline-yaml.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._operators import BUILTIN_OPERATORS
from ._paths import parse_field_path, resolve_field

if TYPE_CHECKING:
    from factflow_engine.config._models import ConditionConfig

__all__ = ("evaluate_condition",)

logger = logging.getLogger(__name__)


def evaluate_condition(condition: ConditionConfig, payload: Mapping[str, Any]) -> bool:
    """Whether `condition` holds for `payload`.

    Never raises. A missing field makes every operator except `exists` false (`neq` and
    `not_in` included); a type mismatch is false; a malformed condition is false.

    Args:
        condition: A leaf `{field, operator, value}` or a composite `all` / `any`.
        payload: The message payload; envelope metadata cannot be addressed.
    """
    try:
        return _evaluate(condition, payload)
    except Exception:  # the contract is "never raises"; a bad condition is just false
        logger.warning("Condition %r could not be evaluated; treating it as false", condition, exc_info=True)
        return False


def _evaluate(condition: ConditionConfig, payload: Mapping[str, Any]) -> bool:
    if condition.all_ is not None:
        return bool(condition.all_) and all(_evaluate(item, payload) for item in condition.all_)
    if condition.any_ is not None:
        return any(_evaluate(item, payload) for item in condition.any_)
    operator = BUILTIN_OPERATORS.get(condition.operator)
    segments = parse_field_path(condition.field)
    if operator is None or segments is None:
        return False
    present, actual = resolve_field(payload, segments)
    return operator.evaluate(present, actual, condition.value)
