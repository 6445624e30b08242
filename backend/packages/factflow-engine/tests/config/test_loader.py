"""PipelineConfigLoader: building models, errors, directories, modes, single routes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from factflow_engine.conditions import evaluate_condition
from factflow_engine.config import (
    ConfigurationError,
    PipelineConfigLoader,
    PipelineGlobalConfig,
    configure_validation,
    is_strict_validation,
    validate_route_config,
)
from factflow_foundation import FactflowError, override_settings

DATA = Path(__file__).parent / "data"
SPEC_EXAMPLES = sorted(DATA.glob("spec_10_*.yaml"))

BASE = """\
version: "1.0"
routes:
  scrape:
    inbound: {queue: site.scrape}
    adapters:
      - type: web_scraper
init_message: {route: scrape}
"""

FULL = """\
version: "1.0"
name: full
routes:
  scrape:
    inbound: {queue: /queue/site.scrape, concurrency: 4, prefetch: 16}
    error_handling: {max_retries: 5, retry_delay_seconds: 2, dead_letter_queue: /queue/errors}
    backpressure: {max_concurrency: 16}
    adapters:
      - type: web_scraper
        config: {timeout: 30}
        condition: {all: [{field: url, operator: exists}, {any: [{field: lang, operator: in, value: [en]}]}]}
        stage: pages/raw
        storage: {metadata_fields: [page.title, {name: first_url, path: items.0.url}]}
        circuit_breaker: {failure_threshold: 9}
        timeout_seconds: 12.5
      - type: passthrough
        storage: {enabled: false}
    outbound:
      - queue: site.next
        condition: {field: status, operator: eq, value: null}
  next:
    name: Next step
    inbound: {queue: site.next, subscription: next-group}
    adapters: [{type: passthrough}]
init_message: {route: scrape, payload: {url: "https://x", nested: {a: [1, 2.5, true, null]}}}
error_handling: {tolerated_failures: 3, backoff: fixed}
backpressure: {target_latency_ms: 100, high_water_mark: 20, low_water_mark: 10}
circuit_breaker: {recovery_timeout_seconds: 5}
orchestrator: {max_hops: 8}
"""


@pytest.fixture(autouse=True)
def _reset_mode() -> Iterator[None]:
    configure_validation(None)
    yield
    configure_validation(None)


@pytest.mark.parametrize("path", SPEC_EXAMPLES, ids=[path.name for path in SPEC_EXAMPLES])
def test_spec_examples_are_valid_without_warnings(loader: PipelineConfigLoader, path: Path) -> None:
    report = loader.validate(path.read_bytes())
    assert report.is_valid and report.issues == (), report.to_dict()


@pytest.mark.parametrize("path", SPEC_EXAMPLES, ids=[path.name for path in SPEC_EXAMPLES])
def test_snapshot_dump_round_trips(loader: PipelineConfigLoader, path: Path) -> None:
    config = loader.load(path.read_text(encoding="utf-8"))
    dumped = config.model_dump(by_alias=True, mode="json")
    again = PipelineGlobalConfig.model_validate(dumped)
    assert again == config
    assert again.model_dump(by_alias=True, mode="json") == dumped


def test_spec_example_three_routes_details(loader: PipelineConfigLoader) -> None:
    config = loader.load((DATA / "spec_10_2_three_routes.yaml").read_text(encoding="utf-8"))
    assert [config.processor_config(route).dead_letter_queue for route in config.routes] == [
        "dlq.scrape",
        "dlq.markdown",
        "site.embeddings.dlq",
    ]
    scrape = config.processor_config("scrape")
    assert scrape.backpressure.max_concurrency == 16 and scrape.concurrency == 4
    assert config.processor_config("markdown").backpressure.max_concurrency == 8
    embeddings = config.processor_config("embeddings")
    assert embeddings.error_handling.max_retries == 5 and embeddings.error_handling.retry_delay_seconds == 5
    assert embeddings.error_handling.backoff == "exponential"
    assert config.error_handling.tolerated_failures == 10
    assert config.breaker_for("scrape", 2).failure_threshold == 10
    assert config.breaker_for("scrape", 2).recovery_timeout_seconds == 60
    assert config.breaker_for("scrape", 0).failure_threshold == 5
    fields = config.routes["embeddings"].adapters[0].storage.metadata_fields
    assert [(field.name, field.path) for field in fields] == [
        ("document_id", "document_id"),
        ("segment_index", "segment.index"),
    ]


def test_every_default_is_filled(loader: PipelineConfigLoader) -> None:
    config = loader.load(BASE, default_name="from-file")
    assert config.name == "from-file"
    route = config.routes["scrape"]
    assert route.name == "scrape" and route.inbound.subscription == "scrape"
    assert route.inbound.concurrency == 1 and route.inbound.prefetch == 10
    adapter = route.adapters[0]
    assert adapter.stage == "web_scraper" and adapter.config == {} and adapter.storage.enabled
    assert adapter.storage.metadata_fields == [] and adapter.condition is None
    assert route.outbound == []
    assert config.init_message is not None and config.init_message.payload == {}
    assert config.orchestrator.max_hops == 64 and config.error_handling.max_retries == 3
    processor = config.processor_config("scrape")
    assert processor.dead_letter_queue == "dlq.scrape" and processor.backpressure.max_concurrency == 1
    assert processor.inbound_queue == "site.scrape" and processor.subscription == "scrape"


def test_full_document(loader: PipelineConfigLoader) -> None:
    config = loader.load(FULL, default_name="ignored")
    assert config.name == "full"
    scrape = config.routes["scrape"]
    adapter = scrape.adapters[0]
    assert adapter.stage == "pages/raw" and adapter.timeout_seconds == 12.5
    assert [(f.name, f.path) for f in adapter.storage.metadata_fields] == [
        ("title", "page.title"),
        ("first_url", "items.0.url"),
    ]
    assert adapter.circuit_breaker == {"failure_threshold": 9}
    assert config.breaker_for("scrape", 0).recovery_timeout_seconds == 5
    assert not scrape.adapters[1].storage.enabled
    assert adapter.condition is not None
    assert evaluate_condition(adapter.condition, {"url": "u", "lang": "en"})
    exists = adapter.condition.all_[0] if adapter.condition.all_ else None
    assert exists is not None and exists.value is True  # the `exists` default is written out
    processor = config.processor_config("scrape")
    assert processor.dead_letter_queue == "errors"
    assert processor.error_handling.max_retries == 5 and processor.error_handling.backoff == "fixed"
    assert processor.error_handling.retry_delay_seconds == 2.0
    assert processor.backpressure.max_concurrency == 16 and processor.backpressure.high_water_mark == 20
    assert config.routes["next"].inbound.subscription == "next-group" and config.routes["next"].name == "Next step"
    assert config.init_message is not None and config.init_message.payload["nested"] == {"a": [1, 2.5, True, None]}
    dumped = config.model_dump(by_alias=True, mode="json")
    assert PipelineGlobalConfig.model_validate(dumped) == config


def test_load_raises_configuration_error(loader: PipelineConfigLoader) -> None:
    with pytest.raises(ConfigurationError) as caught:
        loader.load(BASE.replace("web_scraper", "web_scrapr"))
    error = caught.value
    assert isinstance(error, FactflowError) and error.code == "config_invalid"
    assert error.report.codes() == ["E103"]
    assert "E103" in str(error) and "routes.scrape.adapters[0].type" in str(error) and "line 6" in str(error)
    assert error.context == {"error_count": 1, "warning_count": 0}


def test_warnings_do_not_block_loading(loader: PipelineConfigLoader) -> None:
    config = loader.load(BASE.replace("init_message: {route: scrape}\n", ""))
    assert config.init_message is None


def test_validate_accepts_bytes_and_never_raises(loader: PipelineConfigLoader) -> None:
    assert loader.validate(BASE.encode()).issues == ()
    for weird in (b"\x00\x01", "\x00", "\ud800", b"\xff" * 10, "[" * 1_000, "{a: " * 300):
        report = loader.validate(weird)
        assert not report.is_valid and report.is_parse_failure


def _write(directory: Path, files: dict[str, bytes | str]) -> None:
    for name, content in files.items():
        target = directory / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


def test_load_directory_warn_only(
    loader: PipelineConfigLoader, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(
        tmp_path,
        {
            "b_valid.yaml": BASE,
            "a_broken.yml": BASE.replace("web_scraper", "web_scrapr").replace('"1.0"\n', '"1.0"\nname: named\n'),
            "c_unparseable.YAML": b"version: [\n",
            "d_latin1.yaml": "version: 'é'\n".encode("latin-1"),
            "notes.txt": "ignored",
        },
    )
    (tmp_path / "sub.yaml").mkdir()
    caplog.set_level(logging.WARNING)
    results = loader.load_directory(tmp_path, strict=False)
    assert [result.path.name for result in results] == [
        "a_broken.yml",
        "b_valid.yaml",
        "c_unparseable.YAML",
        "d_latin1.yaml",
    ]
    broken, valid, unparseable, latin1 = results
    assert broken.config is None and not broken.is_runnable and broken.name == "named"
    assert broken.report.codes() == ["E103"] and broken.yaml_text is not None
    assert valid.config is not None and valid.is_runnable and valid.name == "b_valid"
    assert valid.config.name == "b_valid" and valid.yaml_text == BASE
    assert unparseable.report.is_parse_failure and unparseable.name == "c_unparseable"
    assert latin1.report.codes() == ["E007"] and latin1.yaml_text is None
    assert "E103" in caplog.text and "a_broken.yml" in caplog.text
    assert all(record.levelno == logging.WARNING for record in caplog.records)


def test_load_directory_strict_raises_one_combined_error(loader: PipelineConfigLoader, tmp_path: Path) -> None:
    _write(tmp_path, {"one.yaml": BASE.replace('"1.0"', '"9"'), "two.yaml": "routes: {}\n", "ok.yaml": BASE})
    with pytest.raises(ConfigurationError) as caught:
        loader.load_directory(tmp_path, strict=True)
    error = caught.value
    assert sorted(Path(path).name for path in error.file_reports) == ["one.yaml", "two.yaml"]
    assert error.report.codes() == ["E011", "E010", "E021", "W503"]
    assert "2 pipeline file(s)" in str(error)


def test_load_directory_strict_with_only_warnings(loader: PipelineConfigLoader, tmp_path: Path) -> None:
    _write(tmp_path, {"warn.yaml": BASE.replace("init_message: {route: scrape}\n", "")})
    (result,) = loader.load_directory(tmp_path, strict=True)
    assert result.config is not None and result.report.codes() == ["W503", "W501"]


def test_load_directory_uses_the_process_mode(loader: PipelineConfigLoader, tmp_path: Path) -> None:
    _write(tmp_path, {"bad.yaml": "version: 1\n"})
    assert is_strict_validation()  # FACTFLOW_CONFIG_VALIDATOR_STRICT defaults to 1
    with pytest.raises(ConfigurationError):
        loader.load_directory(tmp_path)
    configure_validation(False)
    assert not is_strict_validation()
    assert len(loader.load_directory(tmp_path)) == 1
    configure_validation(None)
    with override_settings(config_validator_strict=False):
        assert not is_strict_validation()
        assert len(loader.load_directory(str(tmp_path))) == 1
    configure_validation(True)
    with override_settings(config_validator_strict=False):
        assert is_strict_validation()


def test_load_directory_path_errors(loader: PipelineConfigLoader, tmp_path: Path) -> None:
    assert loader.load_directory(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        loader.load_directory(tmp_path / "missing")
    (tmp_path / "file.yaml").write_text(BASE, encoding="utf-8")
    with pytest.raises(NotADirectoryError):
        loader.load_directory(tmp_path / "file.yaml")


ROUTE: dict[str, Any] = {
    "inbound": {"queue": "site.scrape", "concurrency": 5, "prefetch": 2},
    "adapters": [{"type": "web_scraper", "storage": {"enabled": False}}],
    "outbound": [{"queue": "nowhere"}],
}


def test_validate_route_config_skips_warnings(loader: PipelineConfigLoader) -> None:
    assert validate_route_config("scrape", ROUTE, loader.registry).issues == ()


def test_validate_route_config_reports_route_errors(loader: PipelineConfigLoader) -> None:
    route = {
        "inbound": {"queue": "/topic/x", "concurrency": 2000},
        "adapters": [{"type": "web_scrapr", "condition": {"field": "a", "operator": "gt"}}],
        "error_handling": {"tolerated_failures": 1, "dead_letter_queue": "dlq.Bad Route"},
    }
    report = validate_route_config("Bad Route", route, loader.registry)
    # without positions the report is ordered by code (pipeline-yaml.md §8.1)
    assert [(issue.code, issue.path) for issue in report.issues] == sorted(
        [
            ("E101", "routes.Bad Route"),
            ("E203", "routes.Bad Route.inbound.queue"),
            ("E206", "routes.Bad Route.inbound.concurrency"),
            ("E103", "routes.Bad Route.adapters[0].type"),
            ("E403", "routes.Bad Route.adapters[0].condition.value"),
            ("E504", "routes.Bad Route.error_handling.tolerated_failures"),
            ("E201", "routes.Bad Route.error_handling.dead_letter_queue"),
        ]
    )
    assert all(issue.line is None for issue in report.issues)


def test_validate_route_config_without_registry_and_on_garbage() -> None:
    assert validate_route_config("r", {**ROUTE, "adapters": [{"type": "unknown"}]}).issues == ()
    assert [i.code for i in validate_route_config("r", ["not", "a", "mapping"]).issues] == ["E030"]
    assert [i.code for i in validate_route_config("r", {}).issues] == ["E032", "E102"]


def test_null_in_an_override_inherits(loader: PipelineConfigLoader) -> None:
    text = BASE.replace(
        "    adapters:",
        "    error_handling: {dead_letter_queue: null, max_retries: 4}\n"
        "    backpressure: {max_concurrency: null}\n    adapters:",
    )
    text += "error_handling: {dead_letter_queue: shared.dlq}\nbackpressure: {max_concurrency: 8}\n"
    text = text.replace("{queue: site.scrape}", "{queue: site.scrape, concurrency: 2, prefetch: 8}")
    config = loader.load(text)
    processor = config.processor_config("scrape")
    assert processor.dead_letter_queue == "shared.dlq"  # null: not set, so the top level applies
    assert processor.error_handling.max_retries == 4
    assert processor.backpressure.max_concurrency == 2  # null max_concurrency means inbound.concurrency
