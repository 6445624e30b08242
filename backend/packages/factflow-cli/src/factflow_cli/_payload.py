"""`--payload JSON` and `--set KEY=VALUE` of `config run`: building `init_payload_overrides`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from factflow_protocols import JSONObject


__all__ = ("build_overrides", "set_dotted")


def set_dotted(target: JSONObject, dotted_key: str, value: Any) -> None:
    """Set `a.b.c` in `target`, creating (or replacing non-mapping) intermediate objects."""
    parts = dotted_key.split(".")
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _parse_value(text: str) -> Any:
    # JSON when it parses (`3`, `true`, `[1,2]`, `{"a":1}`, `"quoted"`), else the text itself.
    try:
        return json.loads(text)
    except ValueError:
        return text


def build_overrides(payload: str | None, assignments: Sequence[str]) -> JSONObject | None:
    """`--payload` (a JSON object) with every `--set` applied after it; None when neither was given.

    Raises:
        click.BadParameter: `--payload` is not a JSON object, or a `--set` is not `KEY=VALUE`
            with a non-empty dotted key (exit 2).
    """
    if payload is None and not assignments:
        return None
    overrides: JSONObject = {}
    if payload is not None:
        try:
            parsed = json.loads(payload)
        except ValueError as exc:
            raise click.BadParameter(f"not valid JSON ({exc})", param_hint="'--payload'") from exc
        if not isinstance(parsed, dict):
            raise click.BadParameter("must be a JSON object, e.g. '{\"limit\": 10}'", param_hint="'--payload'")
        overrides = parsed
    for assignment in assignments:
        key, separator, raw = assignment.partition("=")
        if not separator or not key or any(not part for part in key.split(".")):
            raise click.BadParameter(
                f"{assignment!r} is not KEY=VALUE with a dotted KEY such as a.b=1", param_hint="'--set'"
            )
        set_dotted(overrides, key, _parse_value(raw))
    return overrides
