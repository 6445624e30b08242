"""Checks of one route: inbound, adapters, outbound and its policy overrides (§3, §4, §6)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from factflow_engine.conditions._validate import validate_condition

from ._fields import MISSING, Collector, FieldSpec, check_fields
from ._models import (
    POOL_NAME_PATTERN,
    ROUTE_ID_PATTERN,
    STAGE_SEGMENT_PATTERN,
    SUBSCRIPTION_PATTERN,
    AdapterConfig,
    InboundConfig,
    OutboundConfig,
    RouteConfig,
)
from ._policies import Layer, check_backpressure_bounds, check_delay_bounds, check_policy, effective
from ._ports import AdapterConfigChecker
from ._queues import check_queue_name
from ._storage import check_storage
from ._text import join_path, show

__all__ = ("MAX_ADAPTERS", "RouteFacts", "TopPolicies", "check_route", "check_text", "suggest_route_id")

logger = logging.getLogger(__name__)

MAX_ADAPTERS = 50
MAX_STAGE_LENGTH = 128
ROUTE_KEYS = tuple(RouteConfig.model_fields)
INBOUND_KEYS = tuple(InboundConfig.model_fields)
OUTBOUND_KEYS = tuple(OutboundConfig.model_fields)
ADAPTER_KEYS = tuple(AdapterConfig.model_fields)

_INBOUND_FIELDS = {
    "concurrency": FieldSpec("int", "E206", 1, 1000, suggestion="Set concurrency between 1 and 1000."),
    "prefetch": FieldSpec("int", "E207", 1, 10_000, suggestion="Set prefetch between 1 and 10000."),
}
_ADAPTER_FIELDS = {
    "timeout_seconds": FieldSpec(
        "number", "E513", 0.1, 86_400, nullable=True, suggestion="Set 0.1–86400, or remove it for no limit."
    ),
}


@dataclass(frozen=True, slots=True)
class TopPolicies:
    """The valid top-level policy fields that every route inherits."""

    error_handling: Layer = field(default_factory=dict)
    backpressure: Layer = field(default_factory=dict)


@dataclass
class RouteFacts:
    """What the topology checks need to know about one route."""

    route_id: str
    path: str
    inbound_queue: str | None = None
    """Normalised inbound queue; None when missing or invalid."""
    outbound: list[tuple[str, str]] = field(default_factory=list)
    """(normalised queue, path of the entry's `queue`) for every valid outbound entry."""
    outbound_complete: bool = True
    """False when an outbound entry is missing or invalid (its target is unknown)."""


def suggest_route_id(raw: str) -> str:
    """A valid route id close to `raw` (`'Scrape Pages'` → `'scrape_pages'`)."""
    candidate = re.sub(r"[^a-z0-9_-]+", "_", raw.strip().lower()).strip("_-")
    if not candidate or not candidate[0].isalpha():
        candidate = f"route_{candidate}".rstrip("_")
    return candidate[:64]


def check_text(raw: Mapping[str, Any], key: str, path: str, collector: Collector, *, max_length: int) -> None:
    """A nullable string of at most `max_length` characters (`name` must not be empty)."""
    value = raw.get(key)
    if value is None:
        return
    shortest = 1 if key == "name" else 0
    if not isinstance(value, str) or not shortest <= len(value) <= max_length:
        collector.type_error(join_path(path, key), f"a string of {shortest}–{max_length} characters", value)


def check_route(
    route_id: str,
    raw: object,
    *,
    top: TopPolicies,
    collector: Collector,
    registry: AdapterConfigChecker | None,
) -> RouteFacts | None:
    """Check one route; return the facts the topology checks need (None if it is not a mapping)."""
    path = f"routes.{route_id}"
    if not ROUTE_ID_PATTERN.match(route_id):
        collector.add(
            "E101",
            path,
            f"Route id {show(route_id)} is invalid: use lower-case letters, digits, '_' or '-' after a letter.",
            f"Rename {show(route_id)} to e.g. '{suggest_route_id(route_id)}'.",
        )
    if not isinstance(raw, Mapping):
        collector.type_error(path, "a mapping (the route)", raw)
        return None
    collector.unknown_keys(raw, path, ROUTE_KEYS)
    check_text(raw, "name", path, collector, max_length=200)
    check_text(raw, "description", path, collector, max_length=2000)
    facts = RouteFacts(route_id, path)
    concurrency, prefetch = _check_inbound(raw.get("inbound", MISSING), path, facts, collector)
    _check_adapters(raw.get("adapters", MISSING), f"{path}.adapters", collector, registry)
    _check_outbound(raw.get("outbound", MISSING), f"{path}.outbound", facts, collector)

    error_handling = effective(
        "error_handling",
        top.error_handling,
        check_policy(
            raw.get("error_handling", MISSING), f"{path}.error_handling", "error_handling", collector, override=True
        ),
    )
    check_delay_bounds(error_handling, collector)
    dlq = error_handling["dead_letter_queue"]
    if facts.inbound_queue is not None:
        dlq_name = dlq.value if dlq.value is not None else f"dlq.{route_id}"
        if dlq_name == facts.inbound_queue:
            alternative = f"dlq.{route_id}" if dlq_name != f"dlq.{route_id}" else f"{dlq_name}.dead"
            collector.add(
                "E204",
                dlq.path or f"{path}.error_handling.dead_letter_queue",
                f"Route '{route_id}' dead-letters into its own inbound queue '{dlq_name}'.",
                f"Use a separate queue such as '{alternative}'.",
            )

    backpressure = effective(
        "backpressure",
        top.backpressure,
        check_policy(
            raw.get("backpressure", MISSING), f"{path}.backpressure", "backpressure", collector, override=True
        ),
    )
    if concurrency is not None:
        check_backpressure_bounds(
            backpressure, collector, concurrency=concurrency, prefetch=prefetch, route_id=route_id
        )
        if prefetch is not None and prefetch < concurrency[0]:
            collector.add(
                "W505",
                f"{path}.inbound.prefetch",
                f"Route '{route_id}': prefetch ({prefetch}) is lower than concurrency ({concurrency[0]}).",
                f"prefetch ({prefetch}) caps parallelism below concurrency ({concurrency[0]}).",
            )
    return facts


def _check_inbound(
    raw: Any, route_path: str, facts: RouteFacts, collector: Collector
) -> tuple[tuple[int, str] | None, int | None]:
    """Check `inbound`; return ((concurrency, its path), prefetch), each None when invalid."""
    path = f"{route_path}.inbound"
    if raw is MISSING:
        collector.missing_key(route_path, "inbound")
        return None, None
    if not isinstance(raw, Mapping):
        collector.type_error(path, "a mapping with 'queue'", raw)
        return None, None
    collector.unknown_keys(raw, path, INBOUND_KEYS)
    if "queue" not in raw:
        collector.missing_key(path, "queue")
    else:
        facts.inbound_queue = check_queue_name(raw["queue"], f"{path}.queue", collector)
    subscription = raw.get("subscription")
    if subscription is not None:
        if not isinstance(subscription, str):
            collector.type_error(f"{path}.subscription", "a string", subscription)
        elif not SUBSCRIPTION_PATTERN.match(subscription):
            collector.add(
                "E205",
                f"{path}.subscription",
                f"Subscription {show(subscription)} is invalid.",
                "Use letters, digits, '.', '_', '-' (max 128).",
            )
    if "pool" in raw:
        _check_pool(raw["pool"], f"{path}.pool", collector)
    clean = check_fields(raw, path, _INBOUND_FIELDS, collector)
    concurrency_ok = "concurrency" in clean or "concurrency" not in raw
    prefetch_ok = "prefetch" in clean or "prefetch" not in raw
    concurrency = (int(clean.get("concurrency", 1)), f"{path}.concurrency") if concurrency_ok else None
    prefetch = int(clean.get("prefetch", 10)) if prefetch_ok else None
    return concurrency, prefetch


def _check_pool(value: Any, path: str, collector: Collector) -> None:
    if not isinstance(value, str):
        collector.type_error(path, "a pool name (a string)", value)
    elif not POOL_NAME_PATTERN.match(value):
        collector.add(
            "E201",
            path,
            f"{show(value)} is not a valid pool name.",
            f"Use letters, digits, '.', '_', '-', e.g. '{suggest_pool_name(value)}'.",
        )


def suggest_pool_name(raw: str) -> str:
    """A valid pool name close to `raw` (`'GPU pool'` → `'GPU-pool'`)."""
    candidate = re.sub(r"[^A-Za-z0-9._-]+", "-", raw.strip()).strip("._-")[:128]
    return candidate or "default"


def _check_adapters(raw: Any, path: str, collector: Collector, registry: AdapterConfigChecker | None) -> None:
    if raw is MISSING or raw is None or (isinstance(raw, list) and not raw):
        collector.add("E102", path, f"{path} lists no adapters.", "Add at least one adapter.")
        return
    if not isinstance(raw, list):
        collector.type_error(path, "a list of adapter entries", raw)
        return
    if len(raw) > MAX_ADAPTERS:
        collector.add(
            "E109",
            path,
            f"{path} lists {len(raw)} adapters (max {MAX_ADAPTERS}).",
            "Split the chain across routes linked by a queue.",
        )
    stages: dict[str, int] = {}
    for index, entry in enumerate(raw):
        entry_path = f"{path}[{index}]"
        stage = _check_adapter(entry, entry_path, collector, registry)
        if stage is None:
            continue
        if stage in stages:
            collector.add(
                "E104",
                f"{entry_path}.stage",
                f"Stage '{stage}' of adapters[{index}] is already used by adapters[{stages[stage]}].",
                f"'{stage}' is used by adapters[{stages[stage]}]; set a distinct 'stage:'.",
            )
        else:
            stages[stage] = index


def _check_adapter(raw: Any, path: str, collector: Collector, registry: AdapterConfigChecker | None) -> str | None:
    """Check one adapter entry; return its stage name when known."""
    if not isinstance(raw, Mapping):
        collector.type_error(path, "a mapping with 'type'", raw)
        return None
    collector.unknown_keys(raw, path, ADAPTER_KEYS)
    adapter_type = raw.get("type", MISSING)
    if adapter_type is MISSING:
        collector.missing_key(path, "type")
    elif not isinstance(adapter_type, str):
        collector.type_error(f"{path}.type", "a string (a registered adapter type)", adapter_type)
    config = raw.get("config")
    config_given = config is not None
    config_reported = False
    if registry is not None and isinstance(adapter_type, str):
        found = _ask_registry(registry, adapter_type, config if config_given else {}, config_given, path)
        config_reported = any(issue.path.startswith(f"{path}.config") for issue in found)
        collector.extend(found)
    # The registry owns E3xx; without its verdict on `config`, a non-mapping is still worth saying.
    if config_given and not isinstance(config, Mapping) and not config_reported:
        collector.add(
            "E305",
            f"{path}.config",
            f"The config of {path} is {show(config)}, not a mapping.",
            "Write config as a mapping: {timeout: 30}.",
        )
    condition = raw.get("condition")
    if condition is not None:
        collector.extend(validate_condition(condition, f"{path}.condition"))
    stage = _check_stage(raw.get("stage"), f"{path}.stage", collector)
    stage_name = stage if stage is not None else (adapter_type if isinstance(adapter_type, str) else None)
    check_storage(raw.get("storage"), f"{path}.storage", stage_name or path, collector)
    check_policy(
        raw.get("circuit_breaker", MISSING), f"{path}.circuit_breaker", "circuit_breaker", collector, override=True
    )
    check_fields(raw, path, _ADAPTER_FIELDS, collector)
    if stage is None and "stage" in raw and raw["stage"] is not None:
        return None  # an invalid explicit stage: nothing to compare
    return stage_name


def _ask_registry(
    registry: AdapterConfigChecker, adapter_type: str, config: object, config_given: bool, path: str
) -> list[Any]:
    try:
        return list(registry.check_adapter(adapter_type, config, config_given=config_given, path=path))
    except Exception as exc:  # the validator never raises; a crashing checker is reported instead
        logger.exception("Adapter checker failed for %r at %s", adapter_type, path)
        collector = Collector()
        collector.add(
            "E308",
            f"{path}.config",
            f"Checking the config of '{adapter_type}' crashed ({type(exc).__name__}).",
            f"The config model crashed ({type(exc).__name__}); report it to the adapter maintainers.",
        )
        return collector.issues


def _check_stage(raw: Any, path: str, collector: Collector) -> str | None:
    """Check an explicit `stage`; return it when valid."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        collector.type_error(path, "a string", raw)
        return None
    segments = raw.split("/")
    if len(raw) > MAX_STAGE_LENGTH or not all(STAGE_SEGMENT_PATTERN.match(segment) for segment in segments):
        collector.add(
            "E105",
            path,
            f"Stage name {show(raw)} is malformed.",
            "Use '/'-separated segments such as 'markdown/segments'.",
        )
        return None
    return raw


def _check_outbound(raw: Any, path: str, facts: RouteFacts, collector: Collector) -> None:
    if raw is MISSING or raw is None:
        return
    if not isinstance(raw, list):
        collector.type_error(path, "a list of {queue, condition} entries", raw)
        facts.outbound_complete = False
        return
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        entry_path = f"{path}[{index}]"
        if not isinstance(entry, Mapping):
            collector.type_error(entry_path, "a mapping with 'queue'", entry)
            facts.outbound_complete = False
            continue
        collector.unknown_keys(entry, entry_path, OUTBOUND_KEYS)
        condition = entry.get("condition")
        if condition is not None:
            collector.extend(validate_condition(condition, f"{entry_path}.condition"))
        if "queue" not in entry:
            collector.missing_key(entry_path, "queue")
            facts.outbound_complete = False
            continue
        name = check_queue_name(entry["queue"], f"{entry_path}.queue", collector)
        if name is None:
            facts.outbound_complete = False
            continue
        if name in seen:
            collector.add(
                "E208",
                entry_path,
                f"Queue '{name}' appears in outbound[{seen[name]}] and again in outbound[{index}].",
                "Merge the entries; combine conditions with 'any'.",
            )
            continue
        seen[name] = index
        facts.outbound.append((name, f"{entry_path}.queue"))
