"""Policy sections and their inheritance (docs/reference/pipeline-yaml.md, E5xx).

Range checks run where a value is written; the cross-field rules (delay bounds, concurrency
bounds, water marks) run on the *effective* policy of each route — the top level overlaid
field by field with the route's override — and are reported at the more specific of the two
places that set the values involved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._fields import MISSING, Collector, FieldSpec, check_fields
from ._models import BackpressureConfig, CircuitBreakerConfig, ErrorHandlingConfig, OrchestratorConfig
from ._queues import check_queue_name
from ._text import join_path

__all__ = (
    "BACKPRESSURE_FIELDS",
    "CIRCUIT_BREAKER_FIELDS",
    "ERROR_HANDLING_FIELDS",
    "ORCHESTRATOR_FIELDS",
    "Effective",
    "Layer",
    "PolicyKind",
    "check_backpressure_bounds",
    "check_delay_bounds",
    "check_policy",
    "effective",
)

PolicyKind = Literal["error_handling", "backpressure", "circuit_breaker", "orchestrator"]

Layer = dict[str, tuple[Any, str]]
"""Valid fields written in one section: name → (value, path)."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One effective policy field and where it was written (None: the default)."""

    value: Any
    path: str | None


Effective = dict[str, Setting]


def _between(code: str, low: float, high: float, kind: Literal["int", "number"] = "int", **extra: Any) -> FieldSpec:
    return FieldSpec(kind, code, low, high, suggestion=f"Set {{name}} between {low:g} and {high:g}.", **extra)


ERROR_HANDLING_FIELDS: dict[str, FieldSpec] = {
    "max_retries": _between("E501", 0, 20),
    "retry_delay_seconds": _between("E502", 0, 3600, "number"),
    "backoff": FieldSpec("str", "E503", choices=("fixed", "exponential"), suggestion="Use 'fixed' or 'exponential'."),
    "max_retry_delay_seconds": FieldSpec(
        "number", "E502", 0, 86_400, suggestion="Set max_retry_delay_seconds between retry_delay_seconds and 86400."
    ),
    "max_deliveries": _between("E515", 1, 100),
    "tolerated_failures": FieldSpec("int", "E504", 0, suggestion="Set tolerated_failures to 0 or more."),
}
BACKPRESSURE_FIELDS: dict[str, FieldSpec] = {
    "enabled": FieldSpec("bool"),
    "target_latency_ms": _between("E505", 1, 3_600_000, "number"),
    "min_concurrency": _between("E506", 1, 1000),
    "max_concurrency": _between("E506", 1, 1000, nullable=True),
    "increase_step": _between("E507", 1, 100),
    "decrease_factor": FieldSpec(
        "number", "E507", 0, 1, low_open=True, high_open=True, suggestion="decrease_factor must be > 0 and < 1."
    ),
    "adjust_interval_seconds": _between("E507", 1, 300, "number"),
    "high_water_mark": FieldSpec("int", "E508", 2, suggestion="Set high_water_mark to 2 or more."),
    "low_water_mark": FieldSpec(
        "int", "E508", 1, suggestion="low_water_mark must be at least 1 and below high_water_mark."
    ),
}
CIRCUIT_BREAKER_FIELDS: dict[str, FieldSpec] = {
    "enabled": FieldSpec("bool"),
    "failure_threshold": _between("E509", 1, 1000),
    "recovery_timeout_seconds": _between("E510", 1, 86_400, "number"),
    "half_open_max_calls": _between("E511", 1, 100),
}
ORCHESTRATOR_FIELDS: dict[str, FieldSpec] = {
    "max_handlers": _between("E514", 1, 10_000),
    "max_fanout_pending": _between("E514", 1, 100_000),
    "max_hops": _between("E514", 1, 10_000),
    "cancel_grace_seconds": _between("E514", 0, 3600, "number"),
    "ready_timeout_seconds": _between("E514", 1, 600, "number"),
    "adapter_start_timeout_seconds": _between("E514", 1, 3600, "number"),
}

_SPECS: dict[PolicyKind, dict[str, FieldSpec]] = {
    "error_handling": ERROR_HANDLING_FIELDS,
    "backpressure": BACKPRESSURE_FIELDS,
    "circuit_breaker": CIRCUIT_BREAKER_FIELDS,
    "orchestrator": ORCHESTRATOR_FIELDS,
}
_KEYS: dict[PolicyKind, tuple[str, ...]] = {
    "error_handling": tuple(ErrorHandlingConfig.model_fields),
    "backpressure": tuple(BackpressureConfig.model_fields),
    "circuit_breaker": tuple(CircuitBreakerConfig.model_fields),
    "orchestrator": tuple(OrchestratorConfig.model_fields),
}
DEFAULTS: dict[PolicyKind, dict[str, Any]] = {
    "error_handling": ErrorHandlingConfig().model_dump(),
    "backpressure": BackpressureConfig().model_dump(),
    "circuit_breaker": CircuitBreakerConfig().model_dump(),
    "orchestrator": OrchestratorConfig().model_dump(),
}


def check_policy(raw: Any, path: str, kind: PolicyKind, collector: Collector, *, override: bool = False) -> Layer:
    """Check one policy section as written; return its valid fields.

    Args:
        raw: The section value (`MISSING` or None when absent).
        path: Where the section sits, e.g. `routes.scrape.error_handling`.
        kind: Which policy.
        collector: Receives the issues.
        override: A route-level or adapter-level override (E504 for `tolerated_failures`).
    """
    if raw is MISSING or raw is None:
        return {}
    if not isinstance(raw, Mapping):
        collector.type_error(path, "a mapping", raw)
        return {}
    collector.unknown_keys(raw, path, _KEYS[kind])
    fields = dict(raw)
    if override and kind == "error_handling" and "tolerated_failures" in fields:
        del fields["tolerated_failures"]
        collector.add(
            "E504",
            join_path(path, "tolerated_failures"),
            f"'tolerated_failures' is set in the override {path}; it applies to the whole execution.",
            "Move it to the top-level error_handling.",
        )
    clean = check_fields(fields, path, _SPECS[kind], collector)
    layer: Layer = {name: (value, join_path(path, name)) for name, value in clean.items()}
    if kind == "error_handling" and "dead_letter_queue" in fields and fields["dead_letter_queue"] is not None:
        dlq_path = join_path(path, "dead_letter_queue")
        normalized = check_queue_name(fields["dead_letter_queue"], dlq_path, collector)
        if normalized is not None:
            layer["dead_letter_queue"] = (normalized, dlq_path)
    return layer


def effective(kind: PolicyKind, *layers: Layer) -> Effective:
    """The default policy overlaid with each layer in turn (later layers win field by field)."""
    result: Effective = {name: Setting(value, None) for name, value in DEFAULTS[kind].items()}
    for layer in layers:
        for name, (value, path) in layer.items():
            result[name] = Setting(value, path)
    return result


def _specificity(path: str | None) -> int:
    if path is None:
        return 0
    return 2 if path.startswith("routes.") else 1


def _where(bound: Setting, constrained: Setting) -> str | None:
    """Report a pair at the constrained field unless the bound was set somewhere more specific."""
    if _specificity(bound.path) > _specificity(constrained.path):
        return bound.path
    return constrained.path or bound.path


def check_delay_bounds(policy: Effective, collector: Collector) -> None:
    """E502: `max_retry_delay_seconds` must not be below `retry_delay_seconds`."""
    base, ceiling = policy["retry_delay_seconds"], policy["max_retry_delay_seconds"]
    if ceiling.value < base.value:
        path = _where(base, ceiling)
        if path is not None:
            collector.add(
                "E502",
                path,
                f"max_retry_delay_seconds ({ceiling.value:g}) is below retry_delay_seconds ({base.value:g}).",
                f"max_retry_delay_seconds ({ceiling.value:g}) must be ≥ retry_delay_seconds ({base.value:g}).",
            )


def check_backpressure_bounds(
    policy: Effective,
    collector: Collector,
    *,
    concurrency: tuple[int, str] | None = None,
    prefetch: int | None = None,
    route_id: str | None = None,
) -> None:
    """E506 (concurrency bounds), E508 (water marks), and W506 (limit above prefetch).

    Args:
        policy: The effective backpressure policy.
        collector: Receives the issues.
        concurrency: The route's `inbound.concurrency` and its path, when checking a route.
        prefetch: The route's `inbound.prefetch`, when checking a route.
        route_id: The route, for messages.
    """
    low, high = policy["min_concurrency"], policy["max_concurrency"]
    if high.value is not None and low.value > high.value:
        path = _where(low, high)
        if path is not None:
            collector.add(
                "E506",
                path,
                f"min_concurrency ({low.value}) is above max_concurrency ({high.value}).",
                f"min_concurrency ({low.value}) must not exceed max_concurrency ({high.value}).",
            )
    _check_water_marks(policy, collector)
    if concurrency is None:
        return
    value, path = concurrency
    limit = high.value if high.value is not None else value
    if value > limit:
        collector.add(
            "E506",
            path,
            f"Route '{route_id}': concurrency ({value}) is above max_concurrency ({limit}).",
            f"concurrency ({value}) exceeds max_concurrency ({limit}).",
        )
    elif value < low.value:
        collector.add(
            "E506",
            path,
            f"Route '{route_id}': concurrency ({value}) is below min_concurrency ({low.value}).",
            f"concurrency ({value}) is below min_concurrency ({low.value}); raise it or lower the minimum.",
        )
    if prefetch is not None and high.value is not None and high.path is not None and high.value > prefetch:
        collector.add(
            "W506",
            high.path,
            f"Route '{route_id}': max_concurrency ({high.value}) is higher than prefetch ({prefetch}).",
            f"The limit can never exceed prefetch ({prefetch}); raise prefetch.",
        )


def _check_water_marks(policy: Effective, collector: Collector) -> None:
    low, high = policy["low_water_mark"], policy["high_water_mark"]
    if low.value >= high.value:
        path = _where(high, low)
        if path is not None:
            collector.add(
                "E508",
                path,
                f"low_water_mark ({low.value}) is not below high_water_mark ({high.value}).",
                "low_water_mark must be below high_water_mark.",
            )
