from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from factflow_engine.config import ConfigSnapshot, PipelineConfigLoader

# A `pipeline_executions.config_snapshot` value exactly as releases before `ConfigSnapshot`
# stored it (defaults filled in; integer defaults of float fields stay integers).
STORED: dict[str, Any] = {
    "config_yaml": "version: '1.0'\nroutes: ...\n",
    "config": {
        "version": "1.0",
        "name": "site",
        "description": None,
        "routes": {
            "scrape": {
                "name": "Scrape",
                "description": None,
                "inbound": {"queue": "/queue/site.scrape", "subscription": None, "concurrency": 1, "prefetch": 10},
                "adapters": [
                    {
                        "type": "web_scraper",
                        "config": {},
                        "condition": None,
                        "stage": "pages/raw",
                        "storage": {"enabled": True, "metadata_fields": []},
                        "circuit_breaker": None,
                        "timeout_seconds": None,
                    }
                ],
                "outbound": [
                    {"queue": "/queue/site.markdown", "condition": None},
                    {"queue": "audit", "condition": None},
                ],
                "error_handling": None,
                "backpressure": None,
            },
            "markdown": {
                "name": None,
                "description": None,
                "inbound": {"queue": "site.markdown", "subscription": None, "concurrency": 2, "prefetch": 10},
                "adapters": [
                    {
                        "type": "html_to_markdown",
                        "config": {"strip": True},
                        "condition": {"field": "lang", "operator": "exists", "value": None, "all": None, "any": None},
                        "stage": None,
                        "storage": {"enabled": True, "metadata_fields": [{"name": "url", "path": "meta.url"}]},
                        "circuit_breaker": {"failure_threshold": 2},
                        "timeout_seconds": 5.0,
                    }
                ],
                "outbound": [],
                "error_handling": {"dead_letter_queue": "/queue/site.markdown.dlq"},
                "backpressure": None,
            },
        },
        "init_message": {"route": "scrape", "payload": {"url": "https://example.org"}},
        "error_handling": {
            "max_retries": 3,
            "retry_delay_seconds": 1,
            "backoff": "exponential",
            "max_retry_delay_seconds": 60,
            "dead_letter_queue": None,
            "max_deliveries": 5,
            "tolerated_failures": 2,
        },
        "backpressure": {
            "enabled": True,
            "target_latency_ms": 5000,
            "min_concurrency": 1,
            "max_concurrency": None,
            "increase_step": 1,
            "decrease_factor": 0.5,
            "adjust_interval_seconds": 5,
            "high_water_mark": 1000,
            "low_water_mark": 500,
        },
        "circuit_breaker": {
            "enabled": True,
            "failure_threshold": 5,
            "recovery_timeout_seconds": 30,
            "half_open_max_calls": 1,
        },
        "orchestrator": {
            "max_handlers": 30,
            "max_fanout_pending": 500,
            "max_hops": 64,
            "cancel_grace_seconds": 30,
            "ready_timeout_seconds": 30,
            "adapter_start_timeout_seconds": 60,
        },
    },
    "config_hash": "sha256:" + "0" * 64,
    "config_version": 3,
    "config_name": "site",
    "captured_at": "2025-03-01T09:30:12.345678Z",
    "engine_version": "0.1.0",
}


def test_a_stored_row_loads_typed_and_dumps_back_unchanged() -> None:
    document = copy.deepcopy(STORED)
    snapshot = ConfigSnapshot.model_validate(document)
    assert snapshot.config.routes["markdown"].inbound.concurrency == 2
    assert snapshot.config_version == 3 and snapshot.config_name == "site"
    assert snapshot.tolerated_failures == 2
    assert snapshot.init_route == "scrape"
    dumped = snapshot.model_dump()
    assert dumped == STORED
    # Byte for byte: key order and integer defaults survive (re-dumping the model would print `1.0`).
    assert json.dumps(dumped) == json.dumps(STORED)
    assert json.dumps(snapshot.model_dump(mode="json", by_alias=True)) == json.dumps(STORED)
    # The snapshot owns its document: changing the input or the output changes nothing.
    document["config_version"] = 99
    dumped["config"]["routes"].clear()
    assert snapshot.model_dump() == STORED


def test_queues_dlqs_and_route_order() -> None:
    snapshot = ConfigSnapshot.model_validate(STORED)
    assert snapshot.route_ids() == ["scrape", "markdown"]
    assert snapshot.queues() == ["site.scrape", "site.markdown", "audit"]
    # The default rule (`dlq.<route-id>`) and a route override, normalised.
    assert snapshot.dlqs() == ["dlq.scrape", "site.markdown.dlq"]
    assert snapshot.dead_letter_queue("markdown") == "site.markdown.dlq"
    assert snapshot.all_queues() == ["site.scrape", "site.markdown", "audit", "dlq.scrape", "site.markdown.dlq"]
    assert snapshot.consumers() == {"site.scrape": "scrape", "site.markdown": "markdown"}


def test_routes_stored_before_pools_run_in_the_default_pool() -> None:
    snapshot = ConfigSnapshot.model_validate(STORED)
    assert snapshot.pools() == {"scrape": "default", "markdown": "default"}
    assert snapshot.model_dump() == STORED
    document = copy.deepcopy(STORED)
    document["config"]["routes"]["markdown"]["inbound"]["pool"] = "gpu"
    snapshot = ConfigSnapshot.model_validate(document)
    assert (snapshot.pool("scrape"), snapshot.pool("markdown")) == ("default", "gpu")
    with pytest.raises(KeyError):
        snapshot.pool("nope")


def test_a_queue_that_is_also_a_dlq_counts_as_dlq() -> None:
    document = copy.deepcopy(STORED)
    document["config"]["error_handling"]["dead_letter_queue"] = "audit"
    snapshot = ConfigSnapshot.model_validate(document)
    assert snapshot.dlqs() == ["audit", "site.markdown.dlq"]
    assert snapshot.queues() == ["site.scrape", "site.markdown"]


def test_partial_documents_of_tests_and_old_rows_load() -> None:
    snapshot = ConfigSnapshot.model_validate({"config": STORED["config"]})
    assert snapshot.config_yaml is None and snapshot.config_hash is None
    assert snapshot.declared_route_ids() == ["scrape", "markdown"]
    assert snapshot.model_dump() == {"config": STORED["config"]}
    with pytest.raises(ValidationError):
        ConfigSnapshot.model_validate({"config_yaml": "x"})


def test_declared_order_comes_from_the_yaml_text() -> None:
    # PostgreSQL JSONB stored `routes` keys sorted; the YAML text keeps the author's order.
    document = copy.deepcopy(STORED)
    routes = document["config"]["routes"]
    document["config"]["routes"] = {"markdown": routes["markdown"], "scrape": routes["scrape"]}
    document["config_yaml"] = "version: '1.0'\nroutes:\n  scrape: {}\n  markdown: {}\n"
    snapshot = ConfigSnapshot.model_validate(document)
    assert snapshot.route_ids() == ["markdown", "scrape"]
    assert snapshot.declared_route_ids() == ["scrape", "markdown"]


def test_capture_stores_todays_shape(loader: PipelineConfigLoader) -> None:
    text = "version: '1.0'\nroutes:\n  only:\n    inbound: {queue: in}\n    adapters: [{type: web_scraper}]\n"
    pipeline = loader.load(text)
    snapshot = ConfigSnapshot.capture(
        pipeline,
        config_yaml=text,
        config_hash="sha256:1",
        config_version=1,
        config_name=None,
        captured_at="2025-03-01T09:30:12.345678Z",
        engine_version="0.1.0",
    )
    dumped = snapshot.model_dump()
    assert list(dumped) == [
        "config_yaml",
        "config",
        "config_hash",
        "config_version",
        "config_name",
        "captured_at",
        "engine_version",
    ]
    assert dumped["config"] == pipeline.model_dump(by_alias=True, mode="json")
    assert dumped["config"]["routes"]["only"]["inbound"]["pool"] == "default"
    assert ConfigSnapshot.model_validate(dumped) == snapshot
