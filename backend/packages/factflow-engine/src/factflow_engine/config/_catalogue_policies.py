"""Catalogue entries E4xx (conditions) and E5xx (policies)."""

from __future__ import annotations

from ._catalogue_structure import BASE
from ._code_info import CodeInfo

__all__ = ("CONDITION_AND_POLICY_CODES",)

_ADAPTER = "      - type: web_scraper\n"


def _condition(condition: str) -> str:
    return BASE.replace(_ADAPTER, f"{_ADAPTER}        condition: {condition}\n")


def _route(section: str) -> str:
    """A route-level key added to the `scrape` route."""
    return BASE.replace("    adapters:\n", f"    {section}\n    adapters:\n")


def _adapter(key: str) -> str:
    """A key added to the adapter entry."""
    return BASE.replace(_ADAPTER, f"{_ADAPTER}        {key}\n")


def _top(section: str) -> str:
    return BASE + section + "\n"


CONDITION_AND_POLICY_CODES: tuple[CodeInfo, ...] = (
    CodeInfo(
        "E401",
        "Unknown operator",
        "Unknown 'equals'. Did you mean 'eq'?",
        _condition("{field: page.status, operator: equals, value: 200}"),
        "routes.scrape.adapters[0].condition.operator",
        _condition("{field: page.status, operator: eq, value: 200}"),
        note="Operators: `eq`, `neq`, `gt`, `gte`, `lt`, `lte`, `in`, `not_in`, `contains`, `matches`, `exists`.",
    ),
    CodeInfo(
        "E402",
        "`field` missing or malformed",
        "Use a dotted path such as 'page.url'.",
        _condition("{field: page..url, operator: exists}"),
        "routes.scrape.adapters[0].condition.field",
        _condition("{field: page.url, operator: exists}"),
        note="Segments are made of `[A-Za-z0-9_-]+`, at most 16 of them; a segment of digits indexes a list.",
    ),
    CodeInfo(
        "E403",
        "`value` missing, or not a bool for `exists`",
        "Operator 'gt' needs a 'value'.",
        _condition("{field: page.size, operator: gt}"),
        "routes.scrape.adapters[0].condition.value",
        _condition("{field: page.size, operator: gt, value: 1000}"),
    ),
    CodeInfo(
        "E404",
        "Value type does not fit the operator",
        "'in' expects a list: value: [en, nb].",
        _condition("{field: lang, operator: in, value: en}"),
        "routes.scrape.adapters[0].condition.value",
        _condition("{field: lang, operator: in, value: [en, nb]}"),
        note="`eq`/`neq` take a scalar or `null`; `gt`/`gte`/`lt`/`lte` a number or a string; `in`/`not_in` a "
        "list of scalars; `contains` a scalar; `matches` a string.",
    ),
    CodeInfo(
        "E405",
        "Regular expression invalid or longer than 1000 characters",
        "Invalid regex: unterminated character set at position 3.",
        _condition('{field: url, operator: matches, value: "^[a-z"}'),
        "routes.scrape.adapters[0].condition.value",
        _condition('{field: url, operator: matches, value: "^[a-z]+://"}'),
    ),
    CodeInfo(
        "E406",
        "Leaf keys mixed with `all`/`any`, both lists given, or an empty list",
        "Use field/operator/value or one non-empty 'all'/'any'.",
        _condition("{field: lang, operator: eq, value: en, any: [{field: lang, operator: eq, value: nb}]}"),
        "routes.scrape.adapters[0].condition",
        _condition("{any: [{field: lang, operator: eq, value: en}, {field: lang, operator: eq, value: nb}]}"),
    ),
    CodeInfo(
        "E407",
        "Nested more than 5 levels",
        "Flatten the condition (max 5 levels).",
        _condition(
            "{all: [{any: [{all: [{any: [{all: [{any: [{field: a, operator: exists}]}]}]}]}]}]}",
        ),
        "routes.scrape.adapters[0].condition.all[0].any[0].all[0].any[0].all[0]",
        _condition("{all: [{any: [{all: [{any: [{all: [{field: a, operator: exists}]}]}]}]}]}"),
        reported_at="the deepest node",
        note="Each `all`/`any` is one level. Nested `all` inside `all` (or `any` inside `any`) can always be "
        "flattened into one list.",
    ),
    CodeInfo(
        "E501",
        "`max_retries` outside 0–20",
        "Set max_retries between 0 and 20.",
        _top("error_handling: {max_retries: 50}"),
        "error_handling.max_retries",
        _top("error_handling: {max_retries: 5}"),
    ),
    CodeInfo(
        "E502",
        "Retry delays out of range, or the max below the base",
        "max_retry_delay_seconds (5) must be ≥ retry_delay_seconds (10).",
        _top("error_handling: {retry_delay_seconds: 10, max_retry_delay_seconds: 5}"),
        "error_handling.max_retry_delay_seconds",
        _top("error_handling: {retry_delay_seconds: 10, max_retry_delay_seconds: 60}"),
        note="`retry_delay_seconds` is 0–3600; `max_retry_delay_seconds` at most 86 400 and not below the base "
        "delay — checked on the merged policy of every route.",
    ),
    CodeInfo(
        "E503",
        "Unknown `backoff`",
        "Use 'fixed' or 'exponential'.",
        _top("error_handling: {backoff: linear}"),
        "error_handling.backoff",
        _top("error_handling: {backoff: fixed}"),
    ),
    CodeInfo(
        "E504",
        "`tolerated_failures` negative, or set in a route override",
        "Move it to the top-level error_handling.",
        _route("error_handling: {max_retries: 5, tolerated_failures: 10}"),
        "routes.scrape.error_handling.tolerated_failures",
        _route("error_handling: {max_retries: 5}") + "error_handling: {tolerated_failures: 10}\n",
        note="`tolerated_failures` counts dead-lettered messages of the whole execution, so it exists only at "
        "the top level.",
    ),
    CodeInfo(
        "E505",
        "`target_latency_ms` out of range",
        "Set target_latency_ms between 1 and 3600000.",
        _top("backpressure: {target_latency_ms: 0}"),
        "backpressure.target_latency_ms",
        _top("backpressure: {target_latency_ms: 5000}"),
    ),
    CodeInfo(
        "E506",
        "Concurrency bounds inconsistent: min > max, a bound out of range, or `inbound.concurrency` outside the bounds",
        "concurrency (40) exceeds max_concurrency (20).",
        BASE.replace(
            "    inbound: {queue: site.scrape}\n",
            "    inbound: {queue: site.scrape, concurrency: 40, prefetch: 40}\n"
            "    backpressure: {max_concurrency: 20}\n",
        ),
        "routes.scrape.inbound.concurrency",
        BASE.replace(
            "    inbound: {queue: site.scrape}\n",
            "    inbound: {queue: site.scrape, concurrency: 10, prefetch: 40}\n"
            "    backpressure: {max_concurrency: 20}\n",
        ),
        note="Checked with the effective `max_concurrency`: the route's, else the top level's, else "
        "`inbound.concurrency`.",
    ),
    CodeInfo(
        "E507",
        "`increase_step`, `decrease_factor` or `adjust_interval_seconds` invalid",
        "decrease_factor must be > 0 and < 1.",
        _top("backpressure: {decrease_factor: 1.5}"),
        "backpressure.decrease_factor",
        _top("backpressure: {decrease_factor: 0.5}"),
    ),
    CodeInfo(
        "E508",
        "Water marks invalid (low ≥ high, or below 1)",
        "low_water_mark must be below high_water_mark.",
        _top("backpressure: {high_water_mark: 100}"),
        "backpressure.high_water_mark",
        _top("backpressure: {high_water_mark: 100, low_water_mark: 50}"),
        note="The default `low_water_mark` is 500, so lowering only `high_water_mark` to 500 or less triggers it.",
    ),
    CodeInfo(
        "E509",
        "`failure_threshold` outside 1–1000",
        "Set failure_threshold between 1 and 1000.",
        _top("circuit_breaker: {failure_threshold: 0}"),
        "circuit_breaker.failure_threshold",
        _top("circuit_breaker: {failure_threshold: 5}"),
    ),
    CodeInfo(
        "E510",
        "`recovery_timeout_seconds` outside 1–86 400",
        "Set recovery_timeout_seconds between 1 and 86400.",
        _adapter("circuit_breaker: {recovery_timeout_seconds: 0}"),
        "routes.scrape.adapters[0].circuit_breaker.recovery_timeout_seconds",
        _adapter("circuit_breaker: {recovery_timeout_seconds: 30}"),
    ),
    CodeInfo(
        "E511",
        "`half_open_max_calls` outside 1–100",
        "Set half_open_max_calls between 1 and 100.",
        _top("circuit_breaker: {half_open_max_calls: 0}"),
        "circuit_breaker.half_open_max_calls",
        _top("circuit_breaker: {half_open_max_calls: 1}"),
    ),
    CodeInfo(
        "E512",
        "`metadata_fields` item has a bad path, a duplicate name, or a reserved name (see the storage model)",
        "'checksum' is reserved; use {name: source_checksum, path: checksum}.",
        _adapter("storage: {metadata_fields: [url, checksum]}"),
        "routes.scrape.adapters[0].storage.metadata_fields[1]",
        _adapter("storage: {metadata_fields: [url, {name: source_checksum, path: checksum}]}"),
        note="A dotted path is stored under its last segment (`page.title` → `title`). Reserved names are the "
        "sidecar fields the engine writes: `schema_version`, `kind`, `key`, `content_type`, `content_length`, "
        "`checksum`, `execution_id`, `route_id`, `stage`, `adapter_name`, `adapter_index`, `correlation_id`, "
        "`parent_correlation_id`, `lineage_id`, `config_id`, `config_version`, `config_hash`, "
        "`replay_batch_id`, `original_object_key`, `delivery_count`, `created_at`, `written_by`, `children`.",
    ),
    CodeInfo(
        "E513",
        "`timeout_seconds` outside 0.1–86 400",
        "Set 0.1–86400, or remove it for no limit.",
        _adapter("timeout_seconds: 0"),
        "routes.scrape.adapters[0].timeout_seconds",
        _adapter("timeout_seconds: 60"),
    ),
    CodeInfo(
        "E514",
        "An `orchestrator` value out of range",
        "Set max_handlers between 1 and 10000.",
        _top("orchestrator: {max_handlers: 0}"),
        "orchestrator.max_handlers",
        _top("orchestrator: {max_handlers: 30}"),
    ),
    CodeInfo(
        "E515",
        "`max_deliveries` outside 1–100",
        "Set max_deliveries between 1 and 100.",
        _top("error_handling: {max_deliveries: 0}"),
        "error_handling.max_deliveries",
        _top("error_handling: {max_deliveries: 5}"),
    ),
)
