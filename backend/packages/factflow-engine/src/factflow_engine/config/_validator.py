"""The pipeline validator: every rule of docs/reference/pipeline-yaml.md on a parsed document.

The checks work on the raw mapping, never on the Pydantic models, so that every error is found
and reported with its code and path; the models are built only from documents without errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._fields import MISSING, Collector
from ._models import ROUTE_ID_PATTERN, InitMessageConfig, PipelineGlobalConfig
from ._policies import check_backpressure_bounds, check_delay_bounds, check_policy, effective
from ._ports import AdapterConfigChecker
from ._routes import RouteFacts, TopPolicies, check_route, check_text
from ._text import did_you_mean, join_path, show, type_name, unknown_key_suggestion
from ._topology import check_topology

__all__ = ("MAX_ROUTES", "SUPPORTED_VERSIONS", "TOP_LEVEL_KEYS", "validate_document", "validate_route_mapping")

MAX_ROUTES = 100
SUPPORTED_VERSIONS = ("1.0",)
TOP_LEVEL_KEYS = tuple(PipelineGlobalConfig.model_fields)
INIT_MESSAGE_KEYS = tuple(InitMessageConfig.model_fields)


def validate_document(document: Mapping[str, Any], *, registry: AdapterConfigChecker | None) -> Collector:
    """Check a parsed pipeline document; return the collector with every issue (no positions)."""
    collector = Collector()
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            collector.add("E020", key, f"Unknown top-level key '{key}'.", unknown_key_suggestion(key, TOP_LEVEL_KEYS))
    _check_version(document.get("version", MISSING), collector)
    check_text(document, "name", "", collector, max_length=200)
    check_text(document, "description", "", collector, max_length=2000)

    top = TopPolicies(
        error_handling=check_policy(
            document.get("error_handling", MISSING), "error_handling", "error_handling", collector
        ),
        backpressure=check_policy(document.get("backpressure", MISSING), "backpressure", "backpressure", collector),
    )
    check_policy(document.get("circuit_breaker", MISSING), "circuit_breaker", "circuit_breaker", collector)
    orchestrator = check_policy(document.get("orchestrator", MISSING), "orchestrator", "orchestrator", collector)
    # The top-level policy must be consistent on its own, whatever the routes override.
    check_delay_bounds(effective("error_handling", top.error_handling), collector)
    check_backpressure_bounds(effective("backpressure", top.backpressure), collector)

    routes = _check_routes(document.get("routes", MISSING), top, collector, registry)
    init_route, init_known = _check_init_message(document.get("init_message", MISSING), routes, collector)
    if routes:
        max_hops = effective("orchestrator", orchestrator)["max_hops"].value
        readable = [facts for facts in routes.values() if facts is not None]
        check_topology(
            readable,
            collector,
            init_route=init_route,
            init_known=init_known,
            max_hops=max_hops,
            all_routes_readable=len(readable) == len(routes),
        )
    return collector


def validate_route_mapping(route_id: str, raw: object, *, registry: AdapterConfigChecker | None) -> Collector:
    """Check one route on its own: top-level defaults, no E106/E202, no warnings."""
    collector = Collector(warnings_enabled=False)
    check_route(route_id, raw, top=TopPolicies(), collector=collector, registry=registry)
    return collector


def _check_version(raw: Any, collector: Collector) -> None:
    if raw is MISSING:
        collector.add("E010", "version", "The document has no 'version'.", "Add 'version: \"1.0\"'.")
    elif not isinstance(raw, str):
        collector.add(
            "E012",
            "version",
            f"'version' is {type_name(raw)} ({show(raw)}), not a string.",
            'Quote it: version: "1.0".',
        )
    elif raw not in SUPPORTED_VERSIONS:
        supported = ", ".join(f'"{version}"' for version in SUPPORTED_VERSIONS)
        collector.add("E011", "version", f"Version {show(raw)} is not supported.", f"Supported versions: {supported}.")


def _check_routes(
    raw: Any, top: TopPolicies, collector: Collector, registry: AdapterConfigChecker | None
) -> dict[str, RouteFacts | None]:
    """Check `routes`; return the facts of each route by id (empty when the section is broken)."""
    if raw is MISSING or not isinstance(raw, Mapping) or not raw:
        what = "missing" if raw is MISSING else ("empty" if isinstance(raw, Mapping) else f"{type_name(raw)}")
        collector.add(
            "E021", "routes", f"'routes' is {what}; it must map route ids to routes.", "Define at least one route."
        )
        return {}
    if len(raw) > MAX_ROUTES:
        collector.add(
            "E108",
            "routes",
            f"The pipeline has {len(raw)} routes (max {MAX_ROUTES}).",
            "Split the pipeline into several files.",
        )
    return {
        route_id: check_route(route_id, route, top=top, collector=collector, registry=registry)
        for route_id, route in raw.items()
    }


def _check_init_message(
    raw: Any, routes: Mapping[str, RouteFacts | None], collector: Collector
) -> tuple[str | None, bool]:
    """Check `init_message`; return (the init route when valid, whether W501 may be computed)."""
    if raw is MISSING or raw is None:
        collector.add(
            "W503",
            "",
            "The pipeline has no init_message.",
            "Executions start idle; add init_message unless this is a replay-only pipeline.",
        )
        return None, True
    if not isinstance(raw, Mapping):
        collector.type_error("init_message", "a mapping with 'route' and 'payload'", raw)
        return None, False
    collector.unknown_keys(raw, "init_message", INIT_MESSAGE_KEYS)
    payload = raw.get("payload")
    if payload is not None:
        if not isinstance(payload, Mapping):
            collector.type_error("init_message.payload", "a mapping", payload)
        else:
            _check_json(payload, "init_message.payload", collector)
    route = raw.get("route", MISSING)
    if route is MISSING:
        collector.missing_key("init_message", "route")
        return None, False
    if not isinstance(route, str):
        collector.type_error("init_message.route", "a route id (a string)", route)
        return None, False
    if not routes:
        return None, False  # `routes` is broken: nothing to compare with
    if route not in routes:
        known = [route_id for route_id in routes if ROUTE_ID_PATTERN.match(route_id)] or list(routes)
        hint = did_you_mean(route, known)
        collector.add(
            "E106",
            "init_message.route",
            f"init_message.route {show(route)} names no route.",
            f"Route {show(route)} does not exist.{hint}" if hint else f"Use one of: {', '.join(known)}.",
        )
        return None, False
    return route, True


def _check_json(value: Any, path: str, collector: Collector) -> None:
    """Payload values must survive JSON: no `.inf`/`.nan`."""
    if isinstance(value, float) and not math.isfinite(value):
        collector.type_error(path, "a finite number (JSON has no .inf or .nan)", value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_json(item, join_path(path, key), collector)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]", collector)
