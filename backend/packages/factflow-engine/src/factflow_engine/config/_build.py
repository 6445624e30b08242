"""Build `PipelineGlobalConfig` from a document without errors, with every default filled in.

Route names and subscriptions default to the route id, stages to the adapter type, `exists`
conditions get their explicit `true`, and `metadata_fields` shorthands become `{name, path}`.
Policy overrides stay overrides (only the fields written), with values coerced by their
policy model; `PipelineGlobalConfig.processor_config()` merges them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ._models import (
    DEFAULT_POOL,
    BackpressureConfig,
    CircuitBreakerConfig,
    ErrorHandlingConfig,
    PipelineGlobalConfig,
)

__all__ = ("build_config",)


def _present(raw: Mapping[str, Any], key: str) -> bool:
    return raw.get(key) is not None


# In an override, null means "not set" (inherit), except where null itself is a setting.
_NULL_IS_A_SETTING = frozenset({"max_concurrency"})


def _override(raw: Any, model: type[BaseModel]) -> dict[str, Any] | None:
    if raw is None:
        return None
    written = {key: value for key, value in raw.items() if value is not None or key in _NULL_IS_A_SETTING}
    validated = model.model_validate(written)
    return validated.model_dump(include=set(written))


def _condition(raw: Any) -> Any:
    if raw is None:
        return None
    for key in ("all", "any"):
        if key in raw:
            return {key: [_condition(item) for item in raw[key]]}
    condition = {key: raw[key] for key in ("field", "operator", "value") if key in raw}
    if condition.get("operator") == "exists" and "value" not in condition:
        condition["value"] = True
    return condition


def _metadata_field(item: Any) -> dict[str, str]:
    if isinstance(item, str):
        return {"name": item.rsplit(".", 1)[-1], "path": item}
    return {"name": item["name"], "path": item["path"]}


def _adapter(raw: Mapping[str, Any]) -> dict[str, Any]:
    storage = raw.get("storage") or {}
    adapter: dict[str, Any] = {
        "type": raw["type"],
        "config": dict(raw["config"]) if _present(raw, "config") else {},
        "condition": _condition(raw.get("condition")),
        "stage": raw.get("stage") or raw["type"],
        "storage": {
            "enabled": storage.get("enabled") is not False,
            "metadata_fields": [_metadata_field(item) for item in storage.get("metadata_fields") or []],
        },
        "circuit_breaker": _override(raw.get("circuit_breaker"), CircuitBreakerConfig),
        "timeout_seconds": raw.get("timeout_seconds"),
    }
    return adapter


def _route(route_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    inbound = raw["inbound"]
    return {
        "name": raw.get("name") or route_id,
        "description": raw.get("description"),
        "inbound": {
            "queue": inbound["queue"],
            "subscription": inbound.get("subscription") or route_id,
            "concurrency": inbound.get("concurrency", 1),
            "prefetch": inbound.get("prefetch", 10),
            "pool": inbound.get("pool", DEFAULT_POOL),
        },
        "adapters": [_adapter(entry) for entry in raw["adapters"]],
        "outbound": [
            {"queue": entry["queue"], "condition": _condition(entry.get("condition"))}
            for entry in raw.get("outbound") or []
        ],
        "error_handling": _override(raw.get("error_handling"), ErrorHandlingConfig),
        "backpressure": _override(raw.get("backpressure"), BackpressureConfig),
    }


def build_config(document: Mapping[str, Any], *, default_name: str | None = None) -> PipelineGlobalConfig:
    """Build the models of a document that validated without errors.

    Args:
        document: The parsed document.
        default_name: The pipeline name when the document has none (the file stem).

    Raises:
        pydantic.ValidationError: Only if the validator let something through that the models
            reject, which is a bug.
    """
    init = document.get("init_message")
    data: dict[str, Any] = {
        "version": document["version"],
        "name": document.get("name") or default_name,
        "description": document.get("description"),
        "routes": {route_id: _route(route_id, route) for route_id, route in document["routes"].items()},
        "init_message": None if init is None else {"route": init["route"], "payload": init.get("payload") or {}},
    }
    for section in ("error_handling", "backpressure", "circuit_breaker", "orchestrator"):
        if document.get(section) is not None:
            data[section] = document[section]
    return PipelineGlobalConfig.model_validate(data)
