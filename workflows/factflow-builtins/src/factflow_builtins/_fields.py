"""Config field types shared by the built-in adapters: conditions and dotted payload paths."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationInfo

from factflow_engine.conditions import parse_field_path, validate_condition
from factflow_engine.config import ConditionConfig
from factflow_engine.registry import config_issues_error

__all__ = ("Condition", "DottedPath", "segments_of", "set_path", "typed_config")

ModelT = TypeVar("ModelT", bound=BaseModel)


def typed_config(config: BaseModel | None, model: type[ModelT]) -> ModelT:
    """The adapter's config as its own model; `None` means all defaults (fails when a field is required).

    Raises:
        TypeError: `config` is an instance of another model.
        pydantic.ValidationError: `config` is None and the model has required fields.
    """
    if isinstance(config, model):
        return config
    if config is None:
        return model.model_validate({})
    raise TypeError(f"expected a {model.__name__}, got {type(config).__name__}")


def _check_condition(raw: Any, info: ValidationInfo) -> Any:
    # The same checks (and E4xx codes) as a condition written anywhere else in the YAML.
    if isinstance(raw, ConditionConfig):
        return raw
    issues = validate_condition(raw, info.field_name or "condition")
    if any(issue.severity == "error" for issue in issues):
        raise config_issues_error(issues)
    return raw


Condition = Annotated[ConditionConfig, BeforeValidator(_check_condition)]
"""A condition (docs/reference/pipeline-yaml.md), validated with E4xx codes and evaluated by `evaluate_condition`."""


def _check_path(value: str) -> str:
    if parse_field_path(value) is None:
        raise ValueError(
            f"{value!r} is not a dotted path; use segments of letters, digits, '_' or '-' such as 'page.items'"
        )
    return value


DottedPath = Annotated[str, AfterValidator(_check_path)]
"""A dotted path into the payload, as a condition's `field` (digit segments index lists)."""


def set_path(target: MutableMapping[str, Any], segments: Sequence[str], value: Any) -> None:
    """Put `value` at `segments` inside `target`, creating mappings on the way.

    A path that runs into a non-mapping was already covered by a broader path, so it is left alone.
    """
    for segment in segments[:-1]:
        nested = target.setdefault(segment, {})
        if not isinstance(nested, MutableMapping):
            return
        target = nested
    target[segments[-1]] = value


def segments_of(path: str) -> tuple[str, ...]:
    """The segments of a validated `DottedPath`."""
    segments = parse_field_path(path)
    assert segments is not None, path  # DottedPath validated it
    return segments
