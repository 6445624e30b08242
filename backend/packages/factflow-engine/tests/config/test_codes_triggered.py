"""One case per code of pipeline-yaml.md §8.3: the code, its path and its line."""

from __future__ import annotations

import textwrap

import pytest

from factflow_engine.config import PipelineConfigLoader, ValidationIssue

BASE = """\
version: "1.0"
routes:
  scrape:
    inbound: {queue: site.scrape}
    adapters:
      - type: web_scraper
init_message: {route: scrape}
"""


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def with_inbound(inbound: str) -> str:
    return BASE.replace("inbound: {queue: site.scrape}", f"inbound: {inbound}")


def with_adapter(extra: str) -> str:
    return BASE.replace("      - type: web_scraper\n", f"      - type: web_scraper\n        {extra}\n")


def with_route(extra: str) -> str:
    return BASE.replace("    adapters:\n", f"    {extra}\n    adapters:\n")


# (code, document, path, line) — line None when the code has no position
CASES: list[tuple[str, str | bytes, str, int | None]] = [
    ("E001", "version: '1.0'\nroutes: [\n", "", 3),
    ("E002", "# nothing here\n", "", None),
    ("E003", BASE + "---\nversion: '1.0'\n", "", 8),
    ("E004", with_adapter("config: !!python/object:x.Y {}"), "routes.scrape.adapters[0].config", 7),
    (
        "E005",
        BASE.replace("    adapters:\n", "    inbound: {queue: other}\n    adapters:\n"),
        "routes.scrape.inbound",
        5,
    ),
    ("E006", "- a\n- b\n", "", 1),
    ("E007", b"version: '1.0'\nname: caf\xe9\n", "", 2),
    (
        "E008",
        "a: &a [1,1,1,1,1,1,1,1,1,1]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(5)),
        "",
        None,
    ),
    ("E010", BASE.replace('version: "1.0"\n', ""), "version", 1),
    ("E011", BASE.replace('"1.0"', '"1.1"'), "version", 1),
    ("E012", BASE.replace('"1.0"', "1.0"), "version", 1),
    ("E020", BASE + "route: scrape\n", "route", 8),
    ("E021", 'version: "1.0"\nroutes: []\ninit_message: {route: scrape}\n', "routes", 2),
    ("E030", with_inbound("{queue: site.scrape, concurrency: '5'}"), "routes.scrape.inbound.concurrency", 4),
    ("E031", with_inbound("{queue: site.scrape, prefetch_count: 5}"), "routes.scrape.inbound.prefetch_count", 4),
    ("E032", with_inbound("{concurrency: 2}"), "routes.scrape.inbound", 4),
    ("E101", BASE.replace("  scrape:", "  Scrape:").replace("route: scrape", "route: Scrape"), "routes.Scrape", 3),
    (
        "E102",
        BASE.replace("    adapters:\n      - type: web_scraper\n", "    adapters: []\n"),
        "routes.scrape.adapters",
        5,
    ),
    ("E103", BASE.replace("web_scraper", "web_scrapr"), "routes.scrape.adapters[0].type", 6),
    (
        "E104",
        BASE.replace("      - type: web_scraper\n", "      - type: web_scraper\n      - type: web_scraper\n"),
        "routes.scrape.adapters[1].stage",
        7,
    ),
    ("E105", with_adapter("stage: a//b"), "routes.scrape.adapters[0].stage", 7),
    ("E106", BASE.replace("route: scrape", "route: scraper"), "init_message.route", 7),
    ("E107", BASE.replace("web_scraper", "pdf_reader"), "routes.scrape.adapters[0].type", 6),
    (
        "E108",
        'version: "1.0"\nroutes:\n'
        + "".join(f"  r{i}:\n    inbound: {{queue: q{i}}}\n    adapters: [{{type: passthrough}}]\n" for i in range(101))
        + "init_message: {route: r0}\n",
        "routes",
        2,
    ),
    (
        "E109",
        BASE.replace(
            "      - type: web_scraper\n", "".join(f"      - {{type: passthrough, stage: s{i}}}\n" for i in range(51))
        ),
        "routes.scrape.adapters",
        5,
    ),
    ("E201", with_inbound("{queue: 'site scrape'}"), "routes.scrape.inbound.queue", 4),
    (
        "E202",
        doc("""
        version: "1.0"
        routes:
          a:
            inbound: {queue: shared}
            adapters: [{type: passthrough}]
          b:
            inbound: {queue: /queue/shared}
            adapters: [{type: passthrough}]
        init_message: {route: a}
        """),
        "routes.b.inbound.queue",
        7,
    ),
    ("E203", with_inbound("{queue: 'redis://host/site.scrape'}"), "routes.scrape.inbound.queue", 4),
    (
        "E204",
        with_route("error_handling: {dead_letter_queue: /queue/site.scrape}"),
        "routes.scrape.error_handling.dead_letter_queue",
        5,
    ),
    ("E205", with_inbound("{queue: site.scrape, subscription: -workers}"), "routes.scrape.inbound.subscription", 4),
    ("E206", with_inbound("{queue: site.scrape, concurrency: 0}"), "routes.scrape.inbound.concurrency", 4),
    ("E207", with_inbound("{queue: site.scrape, prefetch: 10001}"), "routes.scrape.inbound.prefetch", 4),
    (
        "E208",
        doc("""
        version: "1.0"
        routes:
          scrape:
            inbound: {queue: site.scrape}
            adapters: [{type: web_scraper}]
            outbound:
              - queue: site.md
              - queue: /queue/site.md
          md:
            inbound: {queue: site.md}
            adapters: [{type: passthrough}]
        init_message: {route: scrape}
        """),
        "routes.scrape.outbound[1]",
        8,
    ),
    ("E301", with_adapter("config: {timout: 3}"), "routes.scrape.adapters[0].config.timout", 7),
    ("E302", BASE.replace("web_scraper", "sitemap_parser"), "routes.scrape.adapters[0].config", 6),
    ("E303", with_adapter("config: {timeout: thirty}"), "routes.scrape.adapters[0].config.timeout", 7),
    ("E304", with_adapter("config: {timeout: -1}"), "routes.scrape.adapters[0].config.timeout", 7),
    ("E305", with_adapter("config: [timeout]"), "routes.scrape.adapters[0].config", 7),
    (
        "E306",
        BASE.replace("type: web_scraper", "type: smart_segmenter\n        config: {min_tokens: 9, max_tokens: 8}"),
        "routes.scrape.adapters[0].config",
        7,
    ),
    (
        "E307",
        BASE.replace("type: web_scraper", "type: passthrough\n        config: {a: 1}"),
        "routes.scrape.adapters[0].config",
        7,
    ),
    (
        "E308",
        BASE.replace("type: web_scraper", "type: crashing_adapter\n        config: {factor: 2}"),
        "routes.scrape.adapters[0].config",
        7,
    ),
    (
        "E401",
        with_adapter("condition: {field: a, operator: equals, value: 1}"),
        "routes.scrape.adapters[0].condition.operator",
        7,
    ),
    (
        "E402",
        with_adapter("condition: {field: 'a b', operator: exists}"),
        "routes.scrape.adapters[0].condition.field",
        7,
    ),
    ("E403", with_adapter("condition: {field: a, operator: lt}"), "routes.scrape.adapters[0].condition.value", 7),
    (
        "E404",
        with_adapter("condition: {field: a, operator: not_in, value: x}"),
        "routes.scrape.adapters[0].condition.value",
        7,
    ),
    (
        "E405",
        with_adapter("condition: {field: a, operator: matches, value: '(x'}"),
        "routes.scrape.adapters[0].condition.value",
        7,
    ),
    ("E406", with_adapter("condition: {all: []}"), "routes.scrape.adapters[0].condition.all", 7),
    (
        "E407",
        with_adapter("condition: {any: [{all: [{any: [{all: [{any: [{all: [{field: a, operator: exists}]}]}]}]}]}]}"),
        "routes.scrape.adapters[0].condition.any[0].all[0].any[0].all[0].any[0]",
        7,
    ),
    ("E501", BASE + "error_handling: {max_retries: 21}\n", "error_handling.max_retries", 8),
    ("E502", BASE + "error_handling: {retry_delay_seconds: 3601}\n", "error_handling.retry_delay_seconds", 8),
    ("E503", BASE + "error_handling: {backoff: linear}\n", "error_handling.backoff", 8),
    ("E504", BASE + "error_handling: {tolerated_failures: -1}\n", "error_handling.tolerated_failures", 8),
    ("E505", BASE + "backpressure: {target_latency_ms: 3600001}\n", "backpressure.target_latency_ms", 8),
    ("E506", BASE + "backpressure: {min_concurrency: 0}\n", "backpressure.min_concurrency", 8),
    ("E507", BASE + "backpressure: {increase_step: 101}\n", "backpressure.increase_step", 8),
    ("E508", BASE + "backpressure: {low_water_mark: 0}\n", "backpressure.low_water_mark", 8),
    ("E509", BASE + "circuit_breaker: {failure_threshold: 1001}\n", "circuit_breaker.failure_threshold", 8),
    (
        "E510",
        BASE + "circuit_breaker: {recovery_timeout_seconds: 0.5}\n",
        "circuit_breaker.recovery_timeout_seconds",
        8,
    ),
    ("E511", BASE + "circuit_breaker: {half_open_max_calls: 101}\n", "circuit_breaker.half_open_max_calls", 8),
    (
        "E512",
        with_adapter("storage: {metadata_fields: [page.title, title]}"),
        "routes.scrape.adapters[0].storage.metadata_fields[1]",
        7,
    ),
    ("E513", with_adapter("timeout_seconds: 0.05"), "routes.scrape.adapters[0].timeout_seconds", 7),
    ("E514", BASE + "orchestrator: {cancel_grace_seconds: 3601}\n", "orchestrator.cancel_grace_seconds", 8),
    ("E515", BASE + "error_handling: {max_deliveries: 101}\n", "error_handling.max_deliveries", 8),
    (
        "W501",
        doc("""
        version: "1.0"
        routes:
          scrape:
            inbound: {queue: site.scrape}
            adapters: [{type: web_scraper}]
          lonely:
            inbound: {queue: site.lonely}
            adapters: [{type: passthrough}]
        init_message: {route: scrape}
        """),
        "routes.lonely",
        6,
    ),
    ("W502", with_route("outbound: [{queue: nowhere}]"), "routes.scrape.outbound[0].queue", 5),
    ("W503", BASE.replace("init_message: {route: scrape}\n", ""), "", 1),
    (
        "W504",
        doc("""
        version: "1.0"
        routes:
          scrape:
            inbound: {queue: site.scrape}
            adapters: [{type: web_scraper}]
            outbound: [{queue: site.scrape}]
        init_message: {route: scrape}
        """),
        "routes.scrape",
        3,
    ),
    ("W505", with_inbound("{queue: site.scrape, concurrency: 3, prefetch: 2}"), "routes.scrape.inbound.prefetch", 4),
    ("W506", BASE + "backpressure: {max_concurrency: 11}\n", "backpressure.max_concurrency", 8),
    ("W507", with_adapter("storage: {enabled: false}"), "routes.scrape.adapters[0].storage.enabled", 7),
]

ALL_CODES = [
    *(f"E00{n}" for n in range(1, 9)),
    "E010", "E011", "E012", "E020", "E021", "E030", "E031", "E032",
    *(f"E10{n}" for n in range(1, 10)),
    *(f"E20{n}" for n in range(1, 9)),
    *(f"E30{n}" for n in range(1, 9)),
    *(f"E40{n}" for n in range(1, 8)),
    *(f"E5{n:02d}" for n in range(1, 16)),
    *(f"W50{n}" for n in range(1, 8)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pool", "suggested"), [("gpu pool", "gpu-pool"), ("", "default"), ("-gpu", "gpu"), ("x" * 129, "x" * 128)]
)
def test_an_invalid_pool_is_e201_with_a_valid_suggestion(
    loader: PipelineConfigLoader, pool: str, suggested: str
) -> None:
    report = loader.validate(with_inbound(f"{{queue: site.scrape, pool: '{pool}'}}"))
    [issue] = report.issues
    assert (issue.code, issue.path, issue.line) == ("E201", "routes.scrape.inbound.pool", 4)
    assert "pool name" in issue.message
    assert f"'{suggested}'" in (issue.suggestion or "")


@pytest.mark.parametrize("pool", ["null", "3", "[gpu]"])
def test_a_pool_that_is_not_a_string_is_a_type_error(loader: PipelineConfigLoader, pool: str) -> None:
    report = loader.validate(with_inbound(f"{{queue: site.scrape, pool: {pool}}}"))
    assert [(issue.code, issue.path) for issue in report.issues] == [("E030", "routes.scrape.inbound.pool")]


def test_a_valid_pool_is_kept_and_the_default_is_default(loader: PipelineConfigLoader) -> None:
    config = loader.load(with_inbound("{queue: site.scrape, pool: gpu.a100_x-2}"))
    assert config.routes["scrape"].inbound.pool == "gpu.a100_x-2"
    assert loader.load(BASE).routes["scrape"].inbound.pool == "default"


def test_every_code_has_a_case() -> None:
    assert [code for code, *_ in CASES] == ALL_CODES


@pytest.mark.parametrize(("code", "text", "path", "line"), CASES, ids=[case[0] for case in CASES])
def test_code_is_reported_at_its_path_and_line(
    loader: PipelineConfigLoader, code: str, text: str | bytes, path: str, line: int | None
) -> None:
    report = loader.validate(text)
    matching = [issue for issue in report.issues if issue.code == code]
    assert matching, f"{code} not reported: {[(i.code, i.path, i.message) for i in report.issues]}"
    issue: ValidationIssue = matching[0]
    assert issue.path == path
    assert issue.line == line
    assert issue.severity == ("warning" if code.startswith("W") else "error")
    assert issue.message and issue.suggestion
    assert report.is_valid is code.startswith("W")
