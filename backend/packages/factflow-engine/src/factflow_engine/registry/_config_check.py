"""Checking an adapter entry's `config` against the adapter's pydantic model (E301–E308)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from ..config import ValidationIssue

__all__ = ("CONFIG_ISSUES_ERROR_TYPE", "check_config", "close_matches", "config_issues_error", "join_path")

CONFIG_ISSUES_ERROR_TYPE = "factflow_config_issues"
"""Pydantic error type that carries ready-made `ValidationIssue`s (see `config_issues_error`)."""

SIMILARITY_CUTOFF = 0.6
"""Minimum `difflib` ratio for a "did you mean" hint (docs/reference/pipeline-yaml.md)."""

_EXPECTED_BY_ERROR = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "decimal_type": "a number",
    "decimal_parsing": "a number",
    "string_type": "a string",
    "bytes_type": "a string",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "frozen_set_type": "a list",
    "iterable_type": "a list",
    "dict_type": "a mapping",
    "mapping_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dataclass_type": "a mapping",
    "none_required": "null",
    "url_type": "a URL",
    "url_parsing": "a URL",
    "uuid_type": "a UUID",
    "uuid_parsing": "a UUID",
    "date_type": "a date",
    "date_parsing": "a date",
    "datetime_type": "a date-time",
    "datetime_parsing": "a date-time",
    "time_type": "a time",
    "time_parsing": "a time",
    "timedelta_type": "a duration",
    "timedelta_parsing": "a duration",
}
_TYPE_ERRORS_EXTRA = frozenset({"is_instance_of", "is_subclass_of", "callable_type", "json_invalid", "json_type"})
_MESSAGE_PREFIXES = ("Value error, ", "Assertion failed, ")


def config_issues_error(issues: Sequence[ValidationIssue]) -> PydanticCustomError:
    """The error a config-model validator raises to report ready-made issues.

    Use it when a field is checked by a factflow validator that already speaks in codes, such as
    `validate_condition` (E4xx): `raise config_issues_error(issues)`. Issue paths are relative to
    the adapter's `config` mapping (`condition.operator`); the registry prefixes the entry's path.
    """
    summary = "; ".join(issue.message for issue in issues) or "invalid value"
    return PydanticCustomError(CONFIG_ISSUES_ERROR_TYPE, "{summary}", {"summary": summary, "issues": tuple(issues)})


def join_path(base: str, relative: str) -> str:
    """Append a relative issue path (`field.sub`, `[2].x` or `""`) to `base`."""
    if not relative:
        return base
    if not base:
        return relative
    return base + (relative if relative.startswith("[") else "." + relative)


def close_matches(word: str, candidates: Sequence[str]) -> list[str]:
    """Known names similar to `word`, best first (difflib ratio ≥ 0.6)."""
    return difflib.get_close_matches(word, list(candidates), n=3, cutoff=SIMILARITY_CUTOFF)


def _loc_path(loc: Sequence[str | int]) -> str:
    path = ""
    for part in loc:
        path = join_path(path, f"[{part}]" if isinstance(part, int) else part)
    return path


def _show(value: object) -> str:
    """A value as a user wrote it in YAML, quoted like an identifier."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: object) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    return type(value).__name__


def _clean(message: str) -> str:
    for prefix in _MESSAGE_PREFIXES:
        if message.startswith(prefix):
            message = message[len(prefix) :]
    message = message.strip()
    return message if message.endswith((".", "!", "?")) else message + "."


def _accepted_keys(model: type[BaseModel]) -> list[str]:
    """The keys a user may write: each field's alias(es), and its name unless only the alias is accepted."""
    by_name = bool(model.model_config.get("populate_by_name") or model.model_config.get("validate_by_name"))
    keys: list[str] = []
    for name, info in model.model_fields.items():
        aliases = [alias for alias in (info.alias, info.validation_alias) if isinstance(alias, str)]
        choices = getattr(info.validation_alias, "choices", None)
        if choices:
            aliases.extend(choice for choice in choices if isinstance(choice, str))
        if not aliases or by_name:
            keys.append(name)
        keys.extend(alias for alias in aliases if alias not in keys)
    return keys


def _bounds_text(model: type[BaseModel], field_name: str | int) -> str | None:
    """`between 1 and 100000`, `at least 0`, ... from the field's constraints, when it has any."""
    info = model.model_fields.get(field_name) if isinstance(field_name, str) else None
    if info is None:
        for candidate in model.model_fields.values():
            if candidate.alias == field_name:
                info = candidate
    if info is None:
        return None
    lower: tuple[str, Any] | None = None
    upper: tuple[str, Any] | None = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            lower = ("ge", item.ge)
        elif isinstance(item, annotated_types.Gt):
            lower = ("gt", item.gt)
        elif isinstance(item, annotated_types.Le):
            upper = ("le", item.le)
        elif isinstance(item, annotated_types.Lt):
            upper = ("lt", item.lt)
    if lower and upper and lower[0] == "ge" and upper[0] == "le":
        return f"between {lower[1]} and {upper[1]}"
    parts = []
    if lower:
        parts.append(f"{'at least' if lower[0] == 'ge' else 'greater than'} {lower[1]}")
    if upper:
        parts.append(f"{'at most' if upper[0] == 'le' else 'less than'} {upper[1]}")
    return " and ".join(parts) or None


class _ConfigChecker:
    """One check of one config mapping; collects issues in the order pydantic reports them."""

    def __init__(self, adapter_type: str, model: type[BaseModel], config_path: str) -> None:
        self.adapter_type = adapter_type
        self.model = model
        self.config_path = config_path
        self.issues: list[ValidationIssue] = []

    def add(self, code: str, relative: str, message: str, suggestion: str) -> None:
        self.issues.append(
            ValidationIssue(
                severity="error",
                code=code,
                path=join_path(self.config_path, relative),
                message=message,
                suggestion=suggestion,
            )
        )

    def unknown_key(self, key: object, accepted: list[str]) -> None:
        kind = self.adapter_type
        shown = key if isinstance(key, str) else _show(key)
        matches = close_matches(key, accepted) if isinstance(key, str) else []
        if matches:
            suggestion = f"{kind!r} has no option {shown!r}. Did you mean {matches[0]!r}?"
        else:
            suggestion = f"Remove {shown!r}; {kind!r} accepts: {', '.join(accepted)}."
        self.add("E301", str(shown), f"Adapter {kind!r} has no option {shown!r}.", suggestion)

    def pydantic_error(self, error: ErrorDetails, config: Mapping[Any, Any]) -> None:
        kind = self.adapter_type
        error_type = error["type"]
        loc = _resolve_loc(error["loc"], config, keep_last=error_type == "missing")
        field = _loc_path(loc)
        message = error["msg"]
        if error_type == CONFIG_ISSUES_ERROR_TYPE:
            for issue in error.get("ctx", {}).get("issues", ()):
                self.issues.append(
                    ValidationIssue(
                        severity=issue.severity,
                        code=issue.code,
                        path=join_path(self.config_path, issue.path),
                        message=issue.message,
                        suggestion=issue.suggestion,
                    )
                )
            return
        if error_type == "missing":
            self.add(
                "E302",
                field,
                f"Required option {field!r} of adapter {kind!r} is missing.",
                f"{kind!r} requires {field!r}.",
            )
        elif error_type == "extra_forbidden":
            self.add("E301", field, f"Adapter {kind!r} has no option {field!r}.", f"Remove {field!r}.")
        elif not loc:
            self.add("E306", "", f"The config of adapter {kind!r} is invalid: {_clean(message)}", _clean(message))
        elif (
            error_type in _EXPECTED_BY_ERROR
            or error_type in _TYPE_ERRORS_EXTRA
            or error_type.endswith(("_type", "_parsing"))
        ):
            expected = _EXPECTED_BY_ERROR.get(error_type)
            shown = _show(error.get("input"))
            suggestion = f"{field!r} must be {expected}, got {shown}." if expected else f"{field!r}: {_clean(message)}"
            self.add(
                "E303", field, f"Option {field!r} of adapter {kind!r} has the wrong type: {_clean(message)}", suggestion
            )
        else:
            self.add(
                "E304",
                field,
                f"Option {field!r} of adapter {kind!r} has an invalid value "
                f"{_show(error.get('input'))}: {_clean(message)}",
                self._constraint_text(error, loc, field),
            )

    def _constraint_text(self, error: ErrorDetails, loc: Sequence[str | int], field: str) -> str:
        error_type = error["type"]
        ctx = error.get("ctx", {})
        if error_type in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
            bounds = _bounds_text(self.model, loc[0]) if len(loc) == 1 else None
            if bounds is None:
                bound = next(iter(ctx.values()), "?")
                bounds = {
                    "greater_than": f"greater than {bound}",
                    "greater_than_equal": f"at least {bound}",
                    "less_than": f"less than {bound}",
                    "less_than_equal": f"at most {bound}",
                }[error_type]
            return f"{field!r} must be {bounds}."
        if error_type in {"literal_error", "enum"}:
            return f"{field!r} must be one of {ctx.get('expected', '?')}."
        if error_type == "string_pattern_mismatch":
            return f"{field!r} must match the pattern {ctx.get('pattern', '?')!r}."
        if error_type == "multiple_of":
            return f"{field!r} must be a multiple of {ctx.get('multiple_of', '?')}."
        if error_type in {"too_short", "too_long"}:
            limit = ctx.get("min_length" if error_type == "too_short" else "max_length", "?")
            return f"{field!r} must have {'at least' if error_type == 'too_short' else 'at most'} {limit} item(s)."
        if error_type in {"string_too_short", "string_too_long"}:
            limit = ctx.get("min_length" if error_type == "string_too_short" else "max_length", "?")
            which = "at least" if error_type == "string_too_short" else "at most"
            return f"{field!r} must be {which} {limit} character(s) long."
        if error_type in {"value_error", "assertion_error"}:
            return _clean(error["msg"])
        return f"{field!r}: {_clean(error['msg'])}"


def _resolve_loc(loc: Sequence[str | int], config: object, *, keep_last: bool) -> list[str | int]:
    """The error location without pydantic's union-member tags (`int`, `list[str]`, model names).

    A tag never exists in the input, so each part is kept only when the input has it; the last
    part of a `missing` error is the absent key itself and is always kept.
    """
    resolved: list[str | int] = []
    current: object = config
    for index, part in enumerate(loc):
        is_last = index == len(loc) - 1
        if isinstance(current, Mapping) and part in current:
            resolved.append(part)
            current = current[part]
        elif isinstance(current, list | tuple) and isinstance(part, int) and 0 <= part < len(current):
            resolved.append(part)
            current = current[part]
        elif is_last and keep_last:
            resolved.append(part)
        elif isinstance(part, int) or (isinstance(current, Mapping) and is_last):
            # An index into something that is not a list, or a key pydantic reports on a mapping.
            resolved.append(part)
            current = None
    return resolved


def check_config(
    adapter_type: str,
    model: type[BaseModel] | None,
    config: object,
    *,
    config_path: str,
    config_given: bool,
) -> tuple[BaseModel | None, list[ValidationIssue]]:
    """Validate one `config` value; returns the model instance (when valid) and the E3xx issues.

    Unknown keys are reported even when the model allows extras, because a typo there would
    otherwise silently fall back to a default.
    """
    if model is None:
        if config_given and config not in (None, {}):
            return None, [
                ValidationIssue(
                    severity="error",
                    code="E307",
                    path=config_path,
                    message=f"Adapter {adapter_type!r} takes no configuration, but a config was given.",
                    suggestion=f"{adapter_type!r} takes no configuration; remove it.",
                )
            ]
        return None, []
    checker = _ConfigChecker(adapter_type, model, config_path)
    if config is None and not config_given:
        config = {}
    if not isinstance(config, Mapping):
        accepted = _accepted_keys(model)
        example = f"{accepted[0]}: ..." if accepted else "key: value"
        checker.add(
            "E305",
            "",
            f"The config of adapter {adapter_type!r} must be a mapping, got {_kind(config)}.",
            f"Write config as a mapping: {{{example}}}.",
        )
        return None, checker.issues
    accepted = _accepted_keys(model)
    unknown = [key for key in config if key not in accepted]
    for key in unknown:
        checker.unknown_key(key, accepted)
    try:
        instance = model.model_validate({key: value for key, value in config.items() if key not in unknown})
    except ValidationError as exc:
        for error in exc.errors():
            checker.pydantic_error(error, config)
        return None, _dedupe(checker.issues)
    except Exception as exc:  # the model's own code crashed; never let that break validation
        name = type(exc).__name__
        checker.add(
            "E308",
            "",
            f"The config model of adapter {adapter_type!r} raised {name}: {exc}",
            f"The config model crashed ({name}); report it to the adapter maintainers.",
        )
        return None, checker.issues
    return (instance, []) if not checker.issues else (None, checker.issues)


def _dedupe(issues: list[ValidationIssue]) -> list[ValidationIssue]:
    # A union reports one error per member at the same place; one issue per (code, path) is enough.
    seen: set[tuple[str, str]] = set()
    unique = []
    for issue in issues:
        if (issue.code, issue.path) not in seen:
            seen.add((issue.code, issue.path))
            unique.append(issue)
    return unique
